// Package oauthtest is an OAuth2 authorization server for tests, playing Google or
// Facebook on a loopback port: the authorization endpoint (code flow with PKCE S256
// required), the token endpoint, and the userinfo endpoint of the kind (Google's
// OpenID Connect userinfo, or Facebook's Graph /me).
//
// It is strict where a real provider is: the client id and secret, the exact redirect
// URI, response_type=code, the state echoed back, the PKCE verifier, single-use codes
// that expire after a minute, and the bearer token at userinfo.
package oauthtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/ticketview/ticketview/api/auth"
)

// Lifetimes of what the server issues.
const (
	CodeTTL  = time.Minute
	TokenTTL = time.Hour
)

// User is the person signed in at the provider.
type User struct {
	Subject, Email, Name string
	EmailVerified        bool
}

// Server is a running fake provider. Its methods are safe for concurrent use.
type Server struct {
	kind string
	srv  *httptest.Server

	mu      sync.Mutex
	clients map[string]client // by client id
	user    *User
	codes   map[string]*grant
	tokens  map[string]tokenGrant
	down    bool
	now     func() time.Time
	stats   Stats
}

// Stats counts what the server answered.
type Stats struct {
	Authorizations int // codes issued
	Exchanges      int // tokens issued
	Rejected       int // token requests refused
	UserInfos      int // profiles served
}

type client struct{ secret, redirect string }

type grant struct {
	clientID, redirect, challenge string
	user                          User
	expires                       time.Time
}

type tokenGrant struct {
	user    User
	expires time.Time
}

// New starts a server playing kind, "google" or "facebook"; it panics on another kind
// (a test's mistake). Close it when done: t.Cleanup(s.Close).
func New(kind string) *Server {
	if kind != auth.ProviderGoogle && kind != auth.ProviderFacebook {
		panic(fmt.Sprintf("oauthtest: unknown kind %q: use google or facebook", kind))
	}
	s := &Server{
		kind:    kind,
		clients: map[string]client{},
		codes:   map[string]*grant{},
		tokens:  map[string]tokenGrant{},
		now:     time.Now,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	if kind == auth.ProviderGoogle {
		mux.HandleFunc("GET /v1/userinfo", s.userinfo)
	} else {
		mux.HandleFunc("GET /me", s.userinfo)
	}
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Provider registers a client with the server and returns its auth.Provider: the kind's
// name and scopes, and endpoints on this server.
func (s *Server) Provider(clientID, clientSecret, redirectURL string) auth.Provider {
	s.mu.Lock()
	s.clients[clientID] = client{secret: clientSecret, redirect: redirectURL}
	s.mu.Unlock()
	var p auth.Provider
	if s.kind == auth.ProviderGoogle {
		p = auth.Google(clientID, clientSecret, redirectURL)
		p.UserInfoURL = s.srv.URL + "/v1/userinfo"
	} else {
		p = auth.Facebook(clientID, clientSecret, redirectURL)
		p.UserInfoURL = s.srv.URL + "/me?fields=id,name,email"
	}
	p.Endpoint.AuthURL, p.Endpoint.TokenURL = s.srv.URL+"/authorize", s.srv.URL+"/token"
	p.Endpoint.DeviceAuthURL = ""
	return p
}

// SetUser signs u in at the provider: the next authorizations approve for them.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	s.user = &u
	s.mu.Unlock()
}

// SetDown makes the token and userinfo endpoints answer 503 (true) or work again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// SetNow sets the server's clock (time.Now by default), to expire codes and tokens.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Authorize does what a browser does with an authorization URL: it GETs authURL and
// returns the Location it is redirected to (redirect_uri?code=..&state=.., or
// ?error=..&state=.. when the request is refused after the client and redirect URI
// checked out) without following it. An error when the server refuses outright (unknown
// client, wrong redirect URI: a real provider shows an error page then).
func (s *Server) Authorize(authURL string) (callbackURL string, err error) {
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(authURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("oauthtest: authorize: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Header.Get("Location"), nil
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[q.Get("client_id")]
	if !ok {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || redirect != c.redirect {
		http.Error(w, "redirect_uri does not match the registered one", http.StatusBadRequest)
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			v.Set("state", state)
		}
		http.Redirect(w, r, withQuery(redirect, v), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
	case state == "":
		fail("invalid_request", "state is required")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request", "a PKCE code_challenge with code_challenge_method=S256 is required")
	case !strings.Contains(" "+q.Get("scope")+" ", " email "):
		fail("invalid_scope", "the email scope is required")
	case s.user == nil:
		fail("access_denied", "nobody is signed in at the provider")
	default:
		code := randomToken()
		s.codes[code] = &grant{
			clientID: q.Get("client_id"), redirect: redirect, challenge: q.Get("code_challenge"),
			user: *s.user, expires: s.now().Add(CodeTTL),
		}
		s.stats.Authorizations++
		http.Redirect(w, r, withQuery(redirect, url.Values{"code": {code}, "state": {state}}), http.StatusFound)
	}
}

func withQuery(u string, v url.Values) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + v.Encode()
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	reject := func(status int, code, desc string) {
		s.stats.Rejected++
		tokenError(w, status, code, desc)
	}
	// Client authentication: HTTP Basic or the form, as RFC 6749 allows.
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		reject(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		reject(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	g, ok := s.codes[code]
	// A code is spent by any exchange attempt of its client, successful or not.
	if ok && g.clientID == id {
		delete(s.codes, code)
	}
	verifier := r.PostForm.Get("code_verifier")
	switch {
	case !ok || g.clientID != id:
		reject(http.StatusBadRequest, "invalid_grant", "unknown or spent code")
	case !s.now().Before(g.expires):
		reject(http.StatusBadRequest, "invalid_grant", "code expired")
	case r.PostForm.Get("redirect_uri") != g.redirect:
		reject(http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization's")
	case verifier == "" || subtle.ConstantTimeCompare([]byte(oauth2.S256ChallengeFromVerifier(verifier)), []byte(g.challenge)) != 1:
		reject(http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
	default:
		tok := randomToken()
		s.tokens[tok] = tokenGrant{user: g.user, expires: s.now().Add(TokenTTL)}
		s.stats.Exchanges++
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": tok, "token_type": "Bearer", "expires_in": int(TokenTTL / time.Second),
		})
	}
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	tok, err := bearer(r, s.kind == auth.ProviderFacebook)
	g, ok := s.tokens[tok]
	if err != nil || !ok || !s.now().Before(g.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token"})
		return
	}
	s.stats.UserInfos++
	u := g.user
	out := map[string]any{}
	if s.kind == auth.ProviderGoogle {
		out["sub"] = u.Subject
		out["name"] = u.Name
		if u.Email != "" {
			out["email"] = u.Email
			out["email_verified"] = u.EmailVerified
		}
	} else {
		fields := strings.Split(r.URL.Query().Get("fields"), ",")
		if r.URL.Query().Get("fields") == "" {
			fields = []string{"id", "name"} // the Graph API's default
		}
		for _, f := range fields {
			switch f {
			case "id":
				out["id"] = u.Subject
			case "name":
				out["name"] = u.Name
			case "email":
				if u.Email != "" && u.EmailVerified { // Facebook shares confirmed emails only
					out["email"] = u.Email
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// bearer returns the access token of a request: the Authorization header, or for
// Facebook also the access_token parameter.
func bearer(r *http.Request, queryToo bool) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", errors.New("bad Authorization header")
		}
		return tok, nil
	}
	if queryToo {
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			return tok, nil
		}
	}
	return "", errors.New("no access token")
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
