package api_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/ticketview/ticketview/api"
)

// TestOpenAPIMatchesRoutes checks /api/openapi.json against the routes the server really
// serves: every route is documented with its method, every documented operation is
// routed, path parameters are declared, and every schema reference resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]json.RawMessage `json:"responses"`
			Roles     string                     `json:"x-roles"`
			Security  []map[string][]string      `json:"security"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	res := e.ok(req{Path: "/api/openapi.json"}, http.StatusOK, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}

	documented := map[string]bool{}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if op.OperationID == "" || ids[op.OperationID] || op.Summary == "" {
				t.Errorf("%s %s: operationId %q missing or repeated, or no summary", method, path, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) < 2 || op.Responses["default"] == nil {
				t.Errorf("%s %s: needs a success response and the default error response", method, path)
			}
			if (op.Roles == "") != (op.Security == nil) {
				t.Errorf("%s %s: x-roles %q but security %v", method, path, op.Roles, op.Security)
			}
			declared := map[string]bool{}
			for _, p := range op.Parameters {
				if p.In == "path" {
					declared[p.Name] = true
				}
			}
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
					t.Errorf("%s %s: path parameter %s not declared", method, path, seg)
				}
			}
		}
	}

	// The routes fiber really serves (the middleware and the catch-all aside).
	served := map[string]bool{}
	for _, r := range api.Routes(e.srv) {
		served[r] = true
		if !documented[r] {
			t.Errorf("route %s is served but not in the OpenAPI document", r)
		}
	}
	for d := range documented {
		if !served[d] {
			t.Errorf("%s is documented but not served", d)
		}
	}
	if len(served) < 50 {
		t.Errorf("only %d routes served: the listing is broken", len(served))
	}

	// Every $ref resolves.
	var refs []string
	collectRefs(t, res.Body, &refs)
	sort.Strings(refs)
	for _, ref := range refs {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if name == ref || doc.Components.Schemas[name] == nil {
			t.Errorf("unresolved $ref %q", ref)
		}
	}
	if len(refs) == 0 {
		t.Error("no $ref at all: the schemas are not generated")
	}
}

func collectRefs(t *testing.T, data []byte, out *[]string) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && k == "$ref" {
					*out = append(*out, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
}
