package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
)

const pw = "correct horse battery"

func testRegister(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	tok, err := e.svc.Register(ctx, auth.Registration{Email: "  Asha@Example.COM ", Password: pw, Name: " Asha ",
		Phone: "+91 98765 43210", Role: ticketview.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	u := tok.User
	if u.Role != ticketview.RoleCustomer {
		t.Fatalf("public sign-up made a %s", u.Role)
	}
	if u.Email != "asha@example.com" || u.Name != "Asha" || u.Phone != "+91 98765 43210" || u.EmailVerified || u.Disabled {
		t.Fatalf("user %+v", u)
	}
	if !strings.HasPrefix(u.ID, "u_") || len(u.ID) != 22 {
		t.Fatalf("user id %q", u.ID)
	}
	if !u.CreatedAt.Equal(e.clock.Now()) || !u.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("times %v %v, want %v", u.CreatedAt, u.UpdatedAt, e.clock.Now())
	}
	stored, err := e.db.FindUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.CheckPasswordHash(stored.PasswordHash, pw); !ok || err != nil {
		t.Fatalf("stored hash %q does not check: %v %v", stored.PasswordHash, ok, err)
	}
	if u.PasswordHash != "" {
		t.Fatal("the tokens carry the password hash")
	}
	if tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("tokens %+v", tok)
	}

	_, err = e.svc.Register(ctx, auth.Registration{Email: "ASHA@example.com", Password: "another password"})
	wantCode(t, err, ticketview.ECONFLICT)
	if !strings.Contains(ticketview.ErrorMessage(err), "email already registered") {
		t.Fatalf("message %q", ticketview.ErrorMessage(err))
	}

	for name, r := range map[string]auth.Registration{
		"bad email":      {Email: "not-an-email", Password: pw},
		"display name":   {Email: "Asha <a@example.com>", Password: pw},
		"short password": {Email: "b@example.com", Password: "short"},
		"long password":  {Email: "b@example.com", Password: strings.Repeat("p", 257)},
		"bad phone":      {Email: "b@example.com", Password: pw, Phone: "call me"},
		"control name":   {Email: "b@example.com", Password: pw, Name: "a\x00b"},
	} {
		_, err := e.svc.Register(ctx, r)
		if ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("%s: %v, want %s", name, err, ticketview.EINVALID)
		}
	}
	if _, err := e.db.FindUserByEmail(ctx, "b@example.com"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		t.Fatalf("an invalid registration stored a user: %v", err)
	}
}

func testCreateUser(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	u, err := e.svc.CreateUser(ctx, auth.Registration{Email: "org@example.com", Password: pw, Role: ticketview.RoleOrganizer})
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != ticketview.RoleOrganizer {
		t.Fatalf("role %s", u.Role)
	}
	tok, err := e.svc.Login(ctx, "org@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustVerify(t, e.svc, tok.AccessToken); c.Role != ticketview.RoleOrganizer {
		t.Fatalf("claims role %s", c.Role)
	}
	u, err = e.svc.CreateUser(ctx, auth.Registration{Email: "c@example.com", Password: pw})
	if err != nil || u.Role != ticketview.RoleCustomer {
		t.Fatalf("default role: %v, %v", u, err)
	}
	_, err = e.svc.CreateUser(ctx, auth.Registration{Email: "r@example.com", Password: pw, Role: "root"})
	wantCode(t, err, ticketview.EINVALID)
	_, err = e.svc.CreateUser(ctx, auth.Registration{Email: "C@example.com", Password: pw, Role: ticketview.RoleAdmin})
	wantCode(t, err, ticketview.ECONFLICT)
}

func testLogin(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)

	tok, err := e.svc.Login(ctx, " ASHA@example.com ", pw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.User.ID != reg.User.ID {
		t.Fatalf("logged in as %+v", tok.User)
	}
	c := mustVerify(t, e.svc, tok.AccessToken)
	if c.UserID != reg.User.ID || c.Family == mustVerify(t, e.svc, reg.AccessToken).Family {
		t.Fatalf("a login must start a new session: %+v", c)
	}

	// One error for an unknown email, a wrong password and nonsense.
	var msgs []string
	for _, try := range [][2]string{
		{"asha@example.com", pw + "!"}, {"nobody@example.com", pw}, {"not an email", pw},
		{"asha@example.com", ""}, {"asha@example.com", strings.Repeat("x", 10000)},
	} {
		_, err := e.svc.Login(ctx, try[0], try[1])
		wantCode(t, err, ticketview.EUNAUTHORIZED)
		msgs = append(msgs, ticketview.ErrorMessage(err))
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("login errors differ: %q", msgs)
		}
	}

	// An account without a password (OAuth only) cannot log in with one.
	now := e.clock.Now()
	if err := e.db.CreateUser(ctx, &ticketview.User{ID: "u_oauthonly", Email: "g@example.com", EmailVerified: true,
		Role: ticketview.RoleCustomer, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Login(ctx, "g@example.com", "")
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	if ticketview.ErrorMessage(err) != msgs[0] {
		t.Fatalf("OAuth-only login message %q", ticketview.ErrorMessage(err))
	}

	// Disabled: the password is right, the answer says why.
	e.setDisabled(t, reg.User.ID, true)
	_, err = e.svc.Login(ctx, "asha@example.com", pw)
	wantCode(t, err, ticketview.EFORBIDDEN)
	if ticketview.ErrorMessage(err) != "account disabled" {
		t.Fatalf("message %q", ticketview.ErrorMessage(err))
	}
	// ... but not to someone without it.
	_, err = e.svc.Login(ctx, "asha@example.com", "wrong password")
	wantCode(t, err, ticketview.EUNAUTHORIZED)
}

// A hash made with old parameters is upgraded to the service's at login.
func testLoginRehashes(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	stronger := auth.HashParams{Memory: 128, Time: 2, Threads: 1}
	svc := e.other(t, func(c *auth.Config) { c.Hash = stronger })
	if _, err := svc.Login(ctx, "asha@example.com", pw); err != nil {
		t.Fatal(err)
	}
	u, err := e.db.FindUser(ctx, reg.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.PasswordHash, "$m=128,t=2,p=1$") {
		t.Fatalf("hash not upgraded: %q", u.PasswordHash)
	}
	if _, err := svc.Login(ctx, "asha@example.com", pw); err != nil {
		t.Fatalf("login after the upgrade: %v", err)
	}
}

func testRefreshRotation(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	fam := mustVerify(t, e.svc, reg.AccessToken).Family

	e.clock.Advance(time.Minute)
	t1, err := e.svc.Refresh(ctx, reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t1.RefreshToken == reg.RefreshToken || t1.AccessToken == reg.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	if c := mustVerify(t, e.svc, t1.AccessToken); c.Family != fam || c.UserID != reg.User.ID {
		t.Fatalf("refreshed claims %+v, want family %s", c, fam)
	}
	// The new one works, the old one is spent.
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// Reuse of a spent token: refused, and the whole session dies with it, the newest
	// token included.
	_, err = e.svc.Refresh(ctx, reg.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = e.svc.Refresh(ctx, t2.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)

	// Another session of the same user is not affected.
	other, err := e.svc.Login(ctx, "asha@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Fatalf("another session was revoked too: %v", err)
	}

	for name, tok := range map[string]string{
		"empty": "", "garbage": "not a token", "unknown": strings.Repeat("A", 43), "padded": other.RefreshToken + "=",
		"access token": other.AccessToken,
	} {
		_, err := e.svc.Refresh(ctx, tok)
		if ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
			t.Errorf("%s: %v, want %s", name, err, ticketview.EUNAUTHORIZED)
		}
	}
}

func testRefreshCarriesCurrentRole(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	if _, err := e.db.UpdateUser(ctx, reg.User.ID, func(u *ticketview.User) error {
		u.Role = ticketview.RoleOrganizer
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.Refresh(ctx, reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustVerify(t, e.svc, tok.AccessToken); c.Role != ticketview.RoleOrganizer || tok.User.Role != ticketview.RoleOrganizer {
		t.Fatalf("refreshed role %s / %s, want organizer", c.Role, tok.User.Role)
	}
}

func testRefreshExpiry(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st, func(c *auth.Config) { c.RefreshTTL = time.Hour })
	reg := e.register(t, "asha@example.com", pw)
	e.clock.Advance(59 * time.Minute)
	t1, err := e.svc.Refresh(ctx, reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The new token lives an hour from its refresh.
	e.clock.Advance(59 * time.Minute)
	t2, err := e.svc.Refresh(ctx, t1.RefreshToken)
	if err != nil {
		t.Fatalf("refresh within the new token's life: %v", err)
	}
	e.clock.Advance(time.Hour)
	_, err = e.svc.Refresh(ctx, t2.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
}

func testRefreshDisabledUser(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	t1, err := e.svc.Refresh(ctx, reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.setDisabled(t, reg.User.ID, true)
	_, err = e.svc.Refresh(ctx, t1.RefreshToken)
	wantCode(t, err, ticketview.EFORBIDDEN)
	// The session is revoked, not just refused while disabled.
	e.setDisabled(t, reg.User.ID, false)
	_, err = e.svc.Refresh(ctx, t1.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	if _, err := e.svc.Login(ctx, "asha@example.com", pw); err != nil {
		t.Fatalf("login after re-enabling: %v", err)
	}
}

func testLogout(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	t1, err := e.svc.Refresh(ctx, reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.Login(ctx, "asha@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, t1.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Refresh(ctx, t1.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	// Idempotent, and quiet about nonsense.
	for _, tok := range []string{t1.RefreshToken, reg.RefreshToken, "", "garbage", strings.Repeat("A", 43)} {
		if err := e.svc.Logout(ctx, tok); err != nil {
			t.Fatalf("logout(%q): %v", tok, err)
		}
	}
	// Logging out with an older (spent) token of the session also ends it.
	t2, err := e.svc.Refresh(ctx, other.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, other.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Refresh(ctx, t2.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
}

func testChangePassword(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	second, err := e.svc.Login(ctx, "asha@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	const next = "a brand new passphrase"

	wantCode(t, e.svc.ChangePassword(ctx, reg.User.ID, "wrong password", next), ticketview.EFORBIDDEN)
	wantCode(t, e.svc.ChangePassword(ctx, reg.User.ID, pw, "short"), ticketview.EINVALID)
	wantCode(t, e.svc.ChangePassword(ctx, "u_nobody", pw, next), ticketview.ENOTFOUND)
	// Nothing changed so far.
	if _, err := e.svc.Refresh(ctx, second.RefreshToken); err != nil {
		t.Fatalf("a refused change revoked sessions: %v", err)
	}

	e.clock.Advance(time.Minute)
	if err := e.svc.ChangePassword(ctx, reg.User.ID, pw, next); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Login(ctx, "asha@example.com", pw)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	tok, err := e.svc.Login(ctx, "asha@example.com", next)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.User.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("updated at %v, want %v", tok.User.UpdatedAt, e.clock.Now())
	}
	// Every session from before the change is over; the login after it works.
	_, err = e.svc.Refresh(ctx, reg.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	if _, err := e.svc.Refresh(ctx, tok.RefreshToken); err != nil {
		t.Fatalf("session started after the change: %v", err)
	}

	// An OAuth-only account has no password to change.
	now := e.clock.Now()
	if err := e.db.CreateUser(ctx, &ticketview.User{ID: "u_oauthonly", Email: "g@example.com", EmailVerified: true,
		Role: ticketview.RoleCustomer, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.ChangePassword(ctx, "u_oauthonly", "", next), ticketview.EFORBIDDEN)
}

// Of concurrent refreshes with one token exactly one gets a new pair, the others are
// refused, and the winner's session goes on.
func testConcurrentRefresh(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	reg := e.register(t, "asha@example.com", pw)
	const n = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   []auth.Tokens
		codes  = map[string]int{}
		starts = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-starts
			tok, err := e.svc.Refresh(ctx, reg.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins = append(wins, tok)
			} else {
				codes[ticketview.ErrorCode(err)]++
			}
		}()
	}
	close(starts)
	wg.Wait()
	if len(wins) != 1 || codes[ticketview.EUNAUTHORIZED] != n-1 {
		t.Fatalf("%d refreshes won, errors %v; want exactly 1 and %d unauthorized", len(wins), codes, n-1)
	}
	mustVerify(t, e.svc, wins[0].AccessToken)
	next, err := e.svc.Refresh(ctx, wins[0].RefreshToken)
	if err != nil {
		t.Fatalf("the winner's session did not survive: %v", err)
	}
	// Once the race is over, the spent token is a reuse again: the session ends.
	_, err = e.svc.Refresh(ctx, reg.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = e.svc.Refresh(ctx, next.RefreshToken)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
}

// Concurrent refreshes through two services (two nodes) on one store: the store lets
// one spend the token; the other's use is a reuse, so at most one gets tokens and, if
// one did, its session is then revoked or it lost to the revocation. Never two winners.
func testConcurrentRefreshTwoNodes(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	node2 := e.other(t, func(*auth.Config) {})
	e.register(t, "asha@example.com", pw)
	for range 10 {
		reg, err := e.svc.Login(ctx, "asha@example.com", pw)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		results := make([]error, 2)
		for i, svc := range []*auth.Service{e.svc, node2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = svc.Refresh(ctx, reg.RefreshToken)
			}()
		}
		wg.Wait()
		if results[0] == nil && results[1] == nil {
			t.Fatal("both nodes refreshed one token")
		}
		for _, err := range results {
			if err != nil && ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
				t.Fatalf("unexpected error %v", err)
			}
		}
	}
}

// Concurrent sign-ups with one email: exactly one account.
func testConcurrentRegister(t *testing.T, st store) {
	ctx := context.Background()
	e := newEnv(t, st)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.Register(ctx, auth.Registration{Email: "asha@example.com", Password: pw})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if ticketview.ErrorCode(err) != ticketview.ECONFLICT {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d registrations succeeded, want 1", ok)
	}
	if _, total, err := e.db.ListUsers(ctx, ticketview.UserFilter{}); err != nil || total != 1 {
		t.Fatalf("%d users stored (%v), want 1", total, err)
	}
}
