package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
)

// sign makes an HS-signed token with the given claims, as an attacker holding (or not)
// the key would.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	e := newEnv(t, sqliteStore)
	tok := e.register(t, "Asha@Example.com", "correct horse battery")
	c := mustVerify(t, e.svc, tok.AccessToken)
	if c.UserID != tok.User.ID || c.Role != ticketview.RoleCustomer || c.Email != "asha@example.com" || c.Family == "" {
		t.Fatalf("claims %+v do not describe user %+v", c, tok.User)
	}
	if want := e.clock.Now().Add(auth.DefaultAccessTTL); !c.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %v, want %v", c.ExpiresAt, want)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != int(auth.DefaultAccessTTL/time.Second) {
		t.Fatalf("token type %q, expires in %d", tok.TokenType, tok.ExpiresIn)
	}
	if _, err := e.svc.Verify("Bearer " + tok.AccessToken); err == nil {
		t.Fatal("Verify accepted the header form: it takes the bare token")
	}

	now := e.clock.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "ticketview", "sub": tok.User.ID, "role": "admin", "email": "x@example.com",
			"fam": "fam_x", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	// A well-formed token signed with the secret passes: the cases below fail for their
	// one defect only.
	if c := mustVerify(t, e.svc, sign(t, jwt.SigningMethodHS256, testSecret, base())); c.Role != ticketview.RoleAdmin {
		t.Fatalf("crafted control token: %+v", c)
	}
	without := func(k string) jwt.MapClaims { c := base(); delete(c, k); return c }
	with := func(k string, v any) jwt.MapClaims { c := base(); c[k] = v; return c }

	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var body map[string]any
	if err := json.Unmarshal(payload, &body); err != nil {
		t.Fatal(err)
	}
	body["role"] = "admin"
	forged, _ := json.Marshal(body)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base())

	for name, token := range map[string]string{
		"empty":            "",
		"garbage":          "not.a.jwt",
		"tampered payload": tampered,
		"bad signature":    parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"no signature":     parts[0] + "." + parts[1] + ".",
		"alg none":         noneTok,
		"alg none, signed": strings.TrimSuffix(noneTok, ".") + "." + parts[2],
		"HS384":            sign(t, jwt.SigningMethodHS384, testSecret, base()),
		"HS512":            sign(t, jwt.SigningMethodHS512, testSecret, base()),
		"wrong key":        sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes!!"), base()),
		"wrong issuer":     sign(t, jwt.SigningMethodHS256, testSecret, with("iss", "evil")),
		"no issuer":        sign(t, jwt.SigningMethodHS256, testSecret, without("iss")),
		"no expiry":        sign(t, jwt.SigningMethodHS256, testSecret, without("exp")),
		"expired":          sign(t, jwt.SigningMethodHS256, testSecret, with("exp", now.Add(-time.Hour).Unix())),
		"not yet valid":    sign(t, jwt.SigningMethodHS256, testSecret, with("nbf", now.Add(time.Hour).Unix())),
		"issued in future": sign(t, jwt.SigningMethodHS256, testSecret, with("iat", now.Add(time.Hour).Unix())),
		"no subject":       sign(t, jwt.SigningMethodHS256, testSecret, without("sub")),
		"unknown role":     sign(t, jwt.SigningMethodHS256, testSecret, with("role", "root")),
		"no role":          sign(t, jwt.SigningMethodHS256, testSecret, without("role")),
		"role wrong type":  sign(t, jwt.SigningMethodHS256, testSecret, with("role", 7)),
		"huge":             tok.AccessToken + strings.Repeat("A", 5000),
	} {
		c, err := e.svc.Verify(token)
		if ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
			t.Errorf("%s: Verify = %+v, %v; want %s", name, c, err, ticketview.EUNAUTHORIZED)
		}
	}

	// Another service with another issuer, same secret, refuses our tokens.
	other := e.other(t, func(c *auth.Config) { c.Issuer = "someone-else" })
	if _, err := other.Verify(tok.AccessToken); ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
		t.Fatalf("verify by another issuer: %v", err)
	}
}

func TestVerifyExpiry(t *testing.T) {
	e := newEnv(t, sqliteStore, func(c *auth.Config) { c.AccessTTL = 5 * time.Minute })
	tok := e.register(t, "asha@example.com", "correct horse battery")
	if tok.ExpiresIn != 300 {
		t.Fatalf("expires in %d, want 300", tok.ExpiresIn)
	}
	e.clock.Advance(5*time.Minute + 10*time.Second) // within the leeway
	mustVerify(t, e.svc, tok.AccessToken)
	e.clock.Advance(time.Minute)
	if _, err := e.svc.Verify(tok.AccessToken); ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
		t.Fatalf("verify after expiry: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	e := newEnv(t, sqliteStore)
	for name, edit := range map[string]func(*auth.Config){
		"short secret":     func(c *auth.Config) { c.Secret = []byte("too short") },
		"no users":         func(c *auth.Config) { c.Users = nil },
		"no sessions":      func(c *auth.Config) { c.Sessions = nil },
		"negative ttl":     func(c *auth.Config) { c.AccessTTL = -time.Second },
		"bad hash":         func(c *auth.Config) { c.Hash = auth.HashParams{Memory: 1, Time: 1, Threads: 1} },
		"unknown provider": func(c *auth.Config) { c.Providers = []auth.Provider{{Name: "myspace"}} },
		"no client id": func(c *auth.Config) {
			c.Providers = []auth.Provider{auth.Google("", "secret", "https://tv.example/cb")}
		},
		"relative redirect": func(c *auth.Config) {
			c.Providers = []auth.Provider{auth.Google("id", "secret", "/cb")}
		},
		"duplicate provider": func(c *auth.Config) {
			p := auth.Google("id", "secret", "https://tv.example/cb")
			c.Providers = []auth.Provider{p, p}
		},
	} {
		cfg := e.cfg
		edit(&cfg)
		if _, err := auth.New(cfg); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("%s: New error = %v, want %s", name, err, ticketview.EINVALID)
		}
	}
	svc := e.other(t, func(c *auth.Config) {
		c.Providers = []auth.Provider{auth.Facebook("fb", "s", "https://tv.example/cb/facebook"), auth.Google("g", "s", "https://tv.example/cb/google")}
	})
	if got := strings.Join(svc.ProviderNames(), ","); got != "facebook,google" {
		t.Fatalf("provider names %q", got)
	}
	if _, _, err := svc.OAuthBegin("myspace"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		t.Fatalf("begin with an unknown provider: %v", err)
	}
	if _, err := svc.OAuthComplete(context.Background(), "myspace", "c", "s", "x"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		t.Fatalf("complete with an unknown provider: %v", err)
	}
}
