package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// client talks to a node over HTTP.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	header map[string]string // sent with every request
	token  string            // the operator token buyer requests go with
}

// operatorToken is the -admin-token of the nodes the tests start.
const operatorToken = "node-test-operator"

func newClient(t *testing.T, addr string) *client {
	return &client{t: t, base: "http://" + addr, http: &http.Client{Timeout: 20 * time.Second}, token: operatorToken}
}

// try sends a request and returns the status and body, or the transport error.
func (c *client) try(method, path, buyer string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if buyer != "" {
		// The operator token acts for the buyer (accounts: e2e_test.go).
		req.Header.Set("X-Buyer-ID", buyer)
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// do sends a request, expects the status and decodes the answer into out (if not nil).
func (c *client) do(method, path, buyer string, body any, want int, out any) {
	c.t.Helper()
	st, data, err := c.try(method, path, buyer, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if st != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
}

// fails expects an error answer with the status and code.
func (c *client) fails(method, path, buyer string, body any, want int, code string) {
	c.t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	c.do(method, path, buyer, body, want, &e)
	if e.Error.Code != code {
		c.t.Fatalf("%s %s: code %q, want %q", method, path, e.Error.Code, code)
	}
}

// healthy is a checkFor condition: the node answers /healthz.
func (c *client) healthy() error {
	st, body, err := c.try("GET", "/healthz", "", nil)
	if err != nil {
		return err
	}
	if st != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		return fmt.Errorf("healthz: %d %s", st, body)
	}
	return nil
}

// answer is a status and one response header.
type answer struct {
	code   int
	source string
}

// apiSource is the header that says where availability came from.
const apiSource = "X-Availability-Source"

// tryHeader sends a body-less request and returns the status with the named header.
func (c *client) tryHeader(method, path, header string) (answer, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return answer{}, nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return answer{}, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return answer{code: res.StatusCode, source: res.Header.Get(header)}, data, err
}

func decode(data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding %s: %w", data, err)
	}
	return nil
}
