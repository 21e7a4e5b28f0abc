package api_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// newAccountsEnv serves the account routes on a real SQLite store with the real
// accounts service (a fast password hash).
func newAccountsEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Users: db, Sessions: db, Secret: []byte("an accounts test secret, 32 bytes+"), Hash: auth.FastHash})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Config{Events: db, Venues: db, Auth: svc, Users: db, Sessions: db, AdminToken: adminToken})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("db close: %v", err)
		}
	})
	return &env{t: t, base: "http://" + ln.Addr().String(), db: db, srv: srv, http: &http.Client{Timeout: 20 * time.Second}}
}

// TestProfileDemographics: the profile takes a city and a birth year, validated, answers
// them and keeps them; "" and 0 clear them.
func TestProfileDemographics(t *testing.T) {
	e := newAccountsEnv(t)
	var tok auth.Tokens
	e.ok(req{Method: "POST", Path: "/api/v1/auth/register", Body: api.RegisterRequest{Email: "mira@example.com",
		Password: "a long enough password", Name: "Mira"}}, http.StatusCreated, &tok)
	bearer := "Bearer " + tok.AccessToken
	if tok.User.City != "" || tok.User.BirthYear != 0 {
		t.Fatalf("new user %+v", tok.User)
	}
	year := time.Now().Year()

	var u ticketview.User
	e.ok(req{Method: "PATCH", Path: "/api/v1/me", Admin: bearer, Body: map[string]any{"city": "  Kochi ", "birth_year": year - 30}},
		http.StatusOK, &u)
	if u.City != "Kochi" || u.BirthYear != year-30 || u.Name != "Mira" {
		t.Fatalf("profile after the update %+v", u)
	}
	if band := u.AgeBand(time.Now()); band != "25-34" {
		t.Fatalf("age band %q", band)
	}
	var got map[string]any
	e.ok(req{Path: "/api/v1/me", Admin: bearer}, http.StatusOK, &got)
	if got["city"] != "Kochi" || got["birth_year"] != float64(year-30) {
		t.Fatalf("profile as answered %v", got)
	}

	for name, body := range map[string]map[string]any{
		"too young":      {"birth_year": year - 12},
		"too old":        {"birth_year": year - 121},
		"in the future":  {"birth_year": year + 1},
		"negative":       {"birth_year": -1980},
		"not a number":   {"birth_year": "1980"},
		"city too long":  {"city": strings.Repeat("x", 101)},
		"control chars":  {"city": "Ko\x00chi"},
		"bad with good":  {"name": "Not Saved", "birth_year": 1},
		"city not text":  {"city": 12},
		"unknown fields": {"birthyear": 1990},
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.fails(req{Method: "PATCH", Path: "/api/v1/me", Admin: bearer, Body: body}, http.StatusBadRequest, ticketview.EINVALID)
		})
	}
	e.t = t
	e.ok(req{Path: "/api/v1/me", Admin: bearer}, http.StatusOK, &u)
	if u.City != "Kochi" || u.BirthYear != year-30 || u.Name != "Mira" {
		t.Fatalf("profile after refused updates %+v", u)
	}
	// The limits themselves are allowed.
	e.ok(req{Method: "PATCH", Path: "/api/v1/me", Admin: bearer, Body: map[string]any{"city": strings.Repeat("é", 100), "birth_year": year - 13}},
		http.StatusOK, &u)
	if u.BirthYear != year-13 || u.AgeBand(time.Now()) != "under-18" {
		t.Fatalf("profile at the limits %+v", u)
	}
	// "" and 0 clear them; the answer leaves them out.
	got = nil
	e.ok(req{Method: "PATCH", Path: "/api/v1/me", Admin: bearer, Body: map[string]any{"city": "", "birth_year": 0}}, http.StatusOK, &got)
	if _, ok := got["city"]; ok {
		t.Fatalf("cleared profile %v", got)
	}
	if _, ok := got["birth_year"]; ok {
		t.Fatalf("cleared profile %v", got)
	}
}
