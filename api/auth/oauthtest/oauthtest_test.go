package oauthtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ticketview/ticketview/api/auth/oauthtest"
)

const redirect = "https://tv.example/cb"

type fixture struct {
	srv *oauthtest.Server
	cfg *oauth2.Config
}

func newFixture(t *testing.T, kind string) *fixture {
	t.Helper()
	s := oauthtest.New(kind)
	t.Cleanup(s.Close)
	p := s.Provider("client", "secret", redirect)
	if p.Name != kind {
		t.Fatalf("provider name %q, want %q", p.Name, kind)
	}
	return &fixture{srv: s, cfg: &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		RedirectURL: p.RedirectURL, Endpoint: p.Endpoint, Scopes: p.Scopes}}
}

// authorize approves a request with these options and returns the callback's query.
func (f *fixture) authorize(t *testing.T, state string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	cb, err := f.srv.Authorize(f.cfg.AuthCodeURL(state, opts...))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb, redirect+"?") {
		t.Fatalf("callback %q is not the redirect URI", cb)
	}
	return u.Query()
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestAuthorizeChecks(t *testing.T) {
	f := newFixture(t, "google")
	f.srv.SetUser(oauthtest.User{Subject: "1", Email: "a@example.com", EmailVerified: true})
	v := oauth2.GenerateVerifier()
	pkce := oauth2.S256ChallengeOption(v)

	q := f.authorize(t, "st", pkce)
	if q.Get("code") == "" || q.Get("state") != "st" {
		t.Fatalf("approval %v: want a code and the state echoed", q)
	}

	// Unknown client or another redirect URI: no redirect at all.
	bad := *f.cfg
	bad.ClientID = "other"
	if _, err := f.srv.Authorize(bad.AuthCodeURL("st", pkce)); err == nil {
		t.Fatal("unknown client_id accepted")
	}
	bad = *f.cfg
	bad.RedirectURL = redirect + "/evil"
	if _, err := f.srv.Authorize(bad.AuthCodeURL("st", pkce)); err == nil {
		t.Fatal("another redirect_uri accepted")
	}

	for name, c := range map[string]struct {
		state string
		opts  []oauth2.AuthCodeOption
		want  string
	}{
		"no PKCE":        {"st", nil, "invalid_request"},
		"plain PKCE":     {"st", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")}, "invalid_request"},
		"no state":       {"", []oauth2.AuthCodeOption{pkce}, "invalid_request"},
		"implicit flow":  {"st", []oauth2.AuthCodeOption{pkce, oauth2.SetAuthURLParam("response_type", "token")}, "unsupported_response_type"},
		"no email scope": {"st", []oauth2.AuthCodeOption{pkce, oauth2.SetAuthURLParam("scope", "openid")}, "invalid_scope"},
	} {
		q := f.authorize(t, c.state, c.opts...)
		if q.Get("error") != c.want || q.Get("code") != "" {
			t.Errorf("%s: callback %v, want error %s", name, q, c.want)
		}
	}

	g := newFixture(t, "google") // nobody signed in
	if q := g.authorize(t, "st", pkce); q.Get("error") != "access_denied" {
		t.Fatalf("no user: %v", q)
	}
}

func TestTokenChecks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "facebook")
	f.srv.SetUser(oauthtest.User{Subject: "1", Email: "a@example.com", EmailVerified: true})
	code := func() (string, string) {
		v := oauth2.GenerateVerifier()
		return f.authorize(t, "st", oauth2.S256ChallengeOption(v)).Get("code"), v
	}

	// Wrong verifier, no verifier: refused, and the code is spent by the attempt.
	c, v := code()
	if _, err := f.cfg.Exchange(ctx, c, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}
	if _, err := f.cfg.Exchange(ctx, c, oauth2.VerifierOption(v)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("a code survived a failed exchange: %v", err)
	}
	c, _ = code()
	if _, err := f.cfg.Exchange(ctx, c); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("no verifier: %v", err)
	}

	// Wrong client secret: invalid_client, and the code is not spent by a stranger.
	c, v = code()
	bad := *f.cfg
	bad.ClientSecret = "guess"
	if _, err := bad.Exchange(ctx, c, oauth2.VerifierOption(v)); oauthErrorCode(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	// Another redirect URI than the authorization's.
	bad = *f.cfg
	bad.RedirectURL = redirect + "/other"
	if _, err := bad.Exchange(ctx, c, oauth2.VerifierOption(v)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("redirect mismatch: %v", err)
	}

	// Single use.
	c, v = code()
	tok, err := f.cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("exchange: %v %+v", err, tok)
	}
	if _, err := f.cfg.Exchange(ctx, c, oauth2.VerifierOption(v)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("code used twice: %v", err)
	}

	// Short-lived.
	c, v = code()
	f.srv.SetNow(func() time.Time { return time.Now().Add(oauthtest.CodeTTL + time.Second) })
	if _, err := f.cfg.Exchange(ctx, c, oauth2.VerifierOption(v)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
	f.srv.SetNow(time.Now)

	// Client credentials in HTTP Basic work too.
	c, v = code()
	basic := *f.cfg
	basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if _, err := basic.Exchange(ctx, c, oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("basic auth: %v", err)
	}
	if s := f.srv.Stats(); s.Exchanges != 2 || s.Authorizations != 6 || s.Rejected != 7 {
		t.Fatalf("stats %+v", s)
	}
}

func getJSON(t *testing.T, rawURL, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(body, &out)
	return resp.StatusCode, out
}

func TestUserInfo(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		kind string
		user oauthtest.User
		want map[string]any
	}{
		{"google", oauthtest.User{Subject: "g1", Email: "a@example.com", Name: "A", EmailVerified: true},
			map[string]any{"sub": "g1", "email": "a@example.com", "email_verified": true, "name": "A"}},
		{"google", oauthtest.User{Subject: "g2", Email: "b@example.com", Name: "B"},
			map[string]any{"sub": "g2", "email": "b@example.com", "email_verified": false, "name": "B"}},
		{"facebook", oauthtest.User{Subject: "f1", Email: "a@example.com", Name: "A", EmailVerified: true},
			map[string]any{"id": "f1", "email": "a@example.com", "name": "A"}},
		{"facebook", oauthtest.User{Subject: "f2", Email: "b@example.com", Name: "B"},
			map[string]any{"id": "f2", "name": "B"}}, // unconfirmed email: not shared
	} {
		f := newFixture(t, c.kind)
		f.srv.SetUser(c.user)
		v := oauth2.GenerateVerifier()
		code := f.authorize(t, "st", oauth2.S256ChallengeOption(v)).Get("code")
		tok, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		info := f.srv.Provider("client", "secret", redirect).UserInfoURL
		if status, _ := getJSON(t, info, ""); status != http.StatusUnauthorized {
			t.Fatalf("%s: no token: %d", c.kind, status)
		}
		if status, _ := getJSON(t, info, "forged"); status != http.StatusUnauthorized {
			t.Fatalf("%s: unknown token: %d", c.kind, status)
		}
		status, got := getJSON(t, info, tok.AccessToken)
		if status != http.StatusOK || len(got) != len(c.want) {
			t.Fatalf("%s: %d %v, want %v", c.kind, status, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Fatalf("%s: %s = %v, want %v (all: %v)", c.kind, k, got[k], v, got)
			}
		}
		if c.kind == "facebook" {
			// The Graph API also takes the token as a parameter.
			if status, _ := getJSON(t, info+"&access_token="+url.QueryEscape(tok.AccessToken), ""); status != http.StatusOK {
				t.Fatalf("access_token parameter: %d", status)
			}
		}
		// Expired tokens are refused.
		f.srv.SetNow(func() time.Time { return time.Now().Add(oauthtest.TokenTTL + time.Second) })
		if status, _ := getJSON(t, info, tok.AccessToken); status != http.StatusUnauthorized {
			t.Fatalf("%s: expired token: %d", c.kind, status)
		}
	}
}

func TestNewUnknownKind(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted an unknown kind")
		}
	}()
	oauthtest.New("myspace")
}
