package auth_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/api/auth/oauthtest"
)

var kinds = []string{auth.ProviderGoogle, auth.ProviderFacebook}

type oauthEnv struct {
	*env
	servers map[string]*oauthtest.Server
}

func newOAuthEnv(t *testing.T, st store) *oauthEnv {
	t.Helper()
	servers := map[string]*oauthtest.Server{}
	var providers []auth.Provider
	for _, k := range kinds {
		s := oauthtest.New(k)
		t.Cleanup(s.Close)
		servers[k] = s
		providers = append(providers, s.Provider("client-"+k, "secret-"+k, "https://tv.example/api/v1/auth/"+k+"/callback"))
	}
	e := newEnv(t, st, func(c *auth.Config) { c.Providers = providers })
	return &oauthEnv{env: e, servers: servers}
}

// flow is one sign-in begun with the service and approved at the provider.
type flow struct {
	authURL, cookie string
	code, state     string
}

// begin starts a sign-in and has the provider approve it for u.
func (o *oauthEnv) begin(t *testing.T, kind string, u oauthtest.User) flow {
	t.Helper()
	authURL, cookie, err := o.svc.OAuthBegin(kind)
	if err != nil {
		t.Fatal(err)
	}
	o.servers[kind].SetUser(u)
	cb, err := o.servers[kind].Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := callbackQuery(t, cb)
	if q.Get("error") != "" {
		t.Fatalf("provider refused: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	return flow{authURL: authURL, cookie: cookie, code: q.Get("code"), state: q.Get("state")}
}

func (o *oauthEnv) complete(f flow, kind string) (auth.Tokens, error) {
	return o.svc.OAuthComplete(context.Background(), kind, f.code, f.state, f.cookie)
}

func (o *oauthEnv) signIn(t *testing.T, kind string, u oauthtest.User) (auth.Tokens, error) {
	t.Helper()
	return o.complete(o.begin(t, kind, u), kind)
}

func callbackQuery(t *testing.T, cb string) url.Values {
	t.Helper()
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestProviderConstructors(t *testing.T) {
	g := auth.Google("id", "secret", "https://tv.example/cb")
	if g.Name != "google" || g.Endpoint.AuthURL != "https://accounts.google.com/o/oauth2/auth" ||
		g.Endpoint.TokenURL != "https://oauth2.googleapis.com/token" ||
		g.UserInfoURL != "https://openidconnect.googleapis.com/v1/userinfo" ||
		strings.Join(g.Scopes, " ") != "openid email profile" || g.ClientID != "id" || g.RedirectURL != "https://tv.example/cb" {
		t.Fatalf("google provider %+v", g)
	}
	f := auth.Facebook("id", "secret", "https://tv.example/cb")
	if f.Name != "facebook" || !strings.HasPrefix(f.Endpoint.AuthURL, "https://www.facebook.com/") ||
		!strings.HasPrefix(f.Endpoint.TokenURL, "https://graph.facebook.com/") ||
		f.UserInfoURL != "https://graph.facebook.com/me?fields=id,name,email" || !strings.Contains(strings.Join(f.Scopes, " "), "email") {
		t.Fatalf("facebook provider %+v", f)
	}
}

func testOAuthBegin(t *testing.T, st store) {
	o := newOAuthEnv(t, st)
	a1, c1, err := o.svc.OAuthBegin("google")
	if err != nil {
		t.Fatal(err)
	}
	a2, c2, _ := o.svc.OAuthBegin("google")
	u, err := url.Parse(a1)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	state, _ := base64.RawURLEncoding.DecodeString(q.Get("state"))
	if q.Get("client_id") != "client-google" || q.Get("response_type") != "code" || len(state) != 32 ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("redirect_uri") != "https://tv.example/api/v1/auth/google/callback" {
		t.Fatalf("authorization URL %s", a1)
	}
	u2, _ := url.Parse(a2)
	if u2.Query().Get("state") == q.Get("state") || u2.Query().Get("code_challenge") == q.Get("code_challenge") || c1 == c2 {
		t.Fatal("two sign-ins share a state, a challenge or a cookie")
	}
	// A cookie value needs no quoting: base64url and a dot.
	if strings.Trim(c1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" || len(c1) > 512 {
		t.Fatalf("cookie %q is not a plain cookie value", c1)
	}
}

func testOAuthNewAccount(t *testing.T, st store) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			o := newOAuthEnv(t, st)
			pu := oauthtest.User{Subject: "sub-123", Email: "Ravi@Example.com", Name: "Ravi\tKumar", EmailVerified: true}
			tok, err := o.signIn(t, kind, pu)
			if err != nil {
				t.Fatal(err)
			}
			u := tok.User
			if u.Email != "ravi@example.com" || !u.EmailVerified || u.Role != ticketview.RoleCustomer || u.Name != "Ravi Kumar" ||
				!u.CreatedAt.Equal(o.clock.Now()) {
				t.Fatalf("new user %+v", u)
			}
			stored, err := o.db.FindUser(ctx, u.ID)
			if err != nil || stored.PasswordHash != "" {
				t.Fatalf("stored user %+v, %v: want no password", stored, err)
			}
			id, err := o.db.FindIdentity(ctx, kind, "sub-123")
			if err != nil || id.UserID != u.ID || id.Email != "ravi@example.com" {
				t.Fatalf("identity %+v, %v", id, err)
			}
			if c := mustVerify(t, o.svc, tok.AccessToken); c.UserID != u.ID {
				t.Fatalf("claims %+v", c)
			}
			if _, err := o.svc.Refresh(ctx, tok.RefreshToken); err != nil {
				t.Fatalf("refresh an OAuth session: %v", err)
			}
			// No password: the account cannot log in with one.
			_, err = o.svc.Login(ctx, "ravi@example.com", "")
			wantCode(t, err, ticketview.EUNAUTHORIZED)

			// The next sign-in finds the link, even when the email changed at the provider.
			pu.Email = "ravi.k@example.com"
			again, err := o.signIn(t, kind, pu)
			if err != nil {
				t.Fatal(err)
			}
			if again.User.ID != u.ID {
				t.Fatalf("second sign-in made user %s, want %s", again.User.ID, u.ID)
			}
			if _, total, _ := o.db.ListUsers(ctx, ticketview.UserFilter{}); total != 1 {
				t.Fatalf("%d users, want 1", total)
			}
			// Disabled: refused.
			o.setDisabled(t, u.ID, true)
			_, err = o.signIn(t, kind, pu)
			wantCode(t, err, ticketview.EFORBIDDEN)
		})
	}
}

func testOAuthLinksVerifiedEmail(t *testing.T, st store) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			o := newOAuthEnv(t, st)
			reg := o.register(t, "asha@example.com", pw)
			tok, err := o.signIn(t, kind, oauthtest.User{Subject: "s-1", Email: "ASHA@example.com", Name: "A", EmailVerified: true})
			if err != nil {
				t.Fatal(err)
			}
			if tok.User.ID != reg.User.ID || !tok.User.EmailVerified || tok.User.Name != "Test User" {
				t.Fatalf("signed in as %+v, want the registered user %s, email now verified, name kept", tok.User, reg.User.ID)
			}
			if id, err := o.db.FindIdentity(ctx, kind, "s-1"); err != nil || id.UserID != reg.User.ID {
				t.Fatalf("identity %+v, %v", id, err)
			}
			// The password still works.
			if _, err := o.svc.Login(ctx, "asha@example.com", pw); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testOAuthUnverifiedEmail(t *testing.T, st store) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			o := newOAuthEnv(t, st)
			reg := o.register(t, "asha@example.com", pw)
			// Someone whose provider account claims asha's address without verifying it.
			_, err := o.signIn(t, kind, oauthtest.User{Subject: "attacker", Email: "asha@example.com", EmailVerified: false})
			wantCode(t, err, ticketview.EFORBIDDEN)
			if _, err := o.db.FindIdentity(ctx, kind, "attacker"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
				t.Fatalf("unverified email was linked: %v", err)
			}
			if u, _ := o.db.FindUser(ctx, reg.User.ID); u.EmailVerified {
				t.Fatal("the account's email was marked verified")
			}
			if kind == auth.ProviderGoogle && !strings.Contains(ticketview.ErrorMessage(err), "not verified") {
				t.Fatalf("message %q does not say why", ticketview.ErrorMessage(err))
			}
			// An unverified address makes no account either.
			_, err = o.signIn(t, kind, oauthtest.User{Subject: "new", Email: "new@example.com", EmailVerified: false})
			wantCode(t, err, ticketview.EFORBIDDEN)
			if _, err := o.db.FindUserByEmail(ctx, "new@example.com"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
				t.Fatalf("an account was made for an unverified email: %v", err)
			}
			// Nor does a provider account without an email.
			_, err = o.signIn(t, kind, oauthtest.User{Subject: "noemail", EmailVerified: true})
			wantCode(t, err, ticketview.EFORBIDDEN)
			if _, total, _ := o.db.ListUsers(ctx, ticketview.UserFilter{}); total != 1 {
				t.Fatalf("%d users, want 1", total)
			}
		})
	}
}

func testOAuthRejectsBadFlows(t *testing.T, st store) {
	ctx := context.Background()
	o := newOAuthEnv(t, st)
	user := oauthtest.User{Subject: "s", Email: "s@example.com", EmailVerified: true}
	exchanges := func() (n int) {
		for _, s := range o.servers {
			n += s.Stats().Exchanges + s.Stats().Rejected
		}
		return n
	}

	otherSecret := o.other(t, func(c *auth.Config) { c.Secret = []byte("a different secret, 32 bytes long!") })
	_, foreignCookie, err := otherSecret.OAuthBegin("google")
	if err != nil {
		t.Fatal(err)
	}

	f := o.begin(t, "google", user)
	payload, sig, _ := strings.Cut(f.cookie, ".")
	body, _ := base64.RawURLEncoding.DecodeString(payload)
	forgedBody := strings.Replace(string(body), `"p":"google"`, `"p":"facebook"`, 1)
	forged := base64.RawURLEncoding.EncodeToString([]byte(forgedBody)) + "." + sig

	before := exchanges()
	for name, c := range map[string]struct{ provider, code, state, cookie string }{
		"no cookie":         {"google", f.code, f.state, ""},
		"garbage cookie":    {"google", f.code, f.state, "garbage"},
		"cookie, no sig":    {"google", f.code, f.state, payload},
		"tampered cookie":   {"facebook", f.code, f.state, forged},
		"other key":         {"google", f.code, f.state, foreignCookie},
		"state mismatch":    {"google", f.code, f.state + "x", f.cookie},
		"no state":          {"google", f.code, "", f.cookie},
		"wrong provider":    {"facebook", f.code, f.state, f.cookie},
		"huge cookie":       {"google", f.code, f.state, f.cookie + strings.Repeat("A", 5000)},
		"no code":           {"google", "", f.state, f.cookie},
		"sig of other flow": {"google", f.code, f.state, payload + "." + strings.SplitN(foreignCookie, ".", 2)[1]},
	} {
		_, err := o.svc.OAuthComplete(ctx, c.provider, c.code, c.state, c.cookie)
		if ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
			t.Errorf("%s: %v, want %s", name, err, ticketview.EUNAUTHORIZED)
		}
	}
	if after := exchanges(); after != before {
		t.Fatalf("refused flows reached a token endpoint %d times", after-before)
	}

	// The flow itself is fine: it completes once...
	if _, err := o.complete(f, "google"); err != nil {
		t.Fatal(err)
	}
	// ...and its code is spent.
	_, err = o.complete(f, "google")
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	// A made-up code is refused by the provider.
	f2 := o.begin(t, "google", user)
	f2.code = "made-up"
	_, err = o.complete(f2, "google")
	wantCode(t, err, ticketview.EUNAUTHORIZED)
}

func testOAuthCookieExpires(t *testing.T, st store) {
	o := newOAuthEnv(t, st)
	f := o.begin(t, "facebook", oauthtest.User{Subject: "s", Email: "s@example.com", EmailVerified: true})
	o.clock.Advance(auth.OAuthCookieTTL + time.Second)
	_, err := o.complete(f, "facebook")
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	if o.servers["facebook"].Stats().Exchanges != 0 {
		t.Fatal("an expired flow reached the token endpoint")
	}
}

// The verifier is sent and checked: a code issued for one flow's challenge, completed
// with another flow's cookie (another verifier) and state, is refused by the provider.
func testOAuthPKCE(t *testing.T, st store) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			o := newOAuthEnv(t, st)
			user := oauthtest.User{Subject: "s", Email: "s@example.com", EmailVerified: true}
			a := o.begin(t, kind, user)
			authB, cookieB, err := o.svc.OAuthBegin(kind)
			if err != nil {
				t.Fatal(err)
			}
			stateB := callbackQuery(t, authB).Get("state")
			before := o.servers[kind].Stats()
			_, err = o.svc.OAuthComplete(context.Background(), kind, a.code, stateB, cookieB)
			wantCode(t, err, ticketview.EUNAUTHORIZED)
			after := o.servers[kind].Stats()
			if after.Rejected != before.Rejected+1 || after.Exchanges != before.Exchanges {
				t.Fatalf("the provider did not refuse the wrong verifier: %+v -> %+v", before, after)
			}
		})
	}
}

func testOAuthProviderDown(t *testing.T, st store) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			o := newOAuthEnv(t, st)
			user := oauthtest.User{Subject: "s", Email: "s@example.com", EmailVerified: true}
			srv := o.servers[kind]

			f := o.begin(t, kind, user)
			srv.SetDown(true)
			_, err := o.complete(f, kind)
			wantCode(t, err, ticketview.EUNAVAILABLE)
			srv.SetDown(false)

			f = o.begin(t, kind, user)
			srv.Close()
			_, err = o.complete(f, kind)
			wantCode(t, err, ticketview.EUNAVAILABLE)
			if _, total, _ := o.db.ListUsers(ctx, ticketview.UserFilter{}); total != 0 {
				t.Fatalf("%d users made without a profile", total)
			}
		})
	}
}

// The same new person signing in several times at once gets one account.
func testOAuthConcurrentFirstSignIn(t *testing.T, st store) {
	ctx := context.Background()
	o := newOAuthEnv(t, st)
	user := oauthtest.User{Subject: "s-race", Email: "race@example.com", Name: "Race", EmailVerified: true}
	const n = 6
	flows := make([]flow, n)
	for i := range flows {
		flows[i] = o.begin(t, "google", user)
	}
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := o.complete(flows[i], "google")
			errs[i] = err
			if err == nil {
				ids[i] = tok.User.ID
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("sign-in %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("sign-ins got users %v", ids)
		}
	}
	if _, total, _ := o.db.ListUsers(ctx, ticketview.UserFilter{}); total != 1 {
		t.Fatalf("%d users, want 1", total)
	}
}
