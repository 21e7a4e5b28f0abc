package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestUsers checks a ticketview.UserStore against the contract. open is called once per
// subtest and must return a store without users. The contract:
//
//   - CreateUser validates (User.Validate: EINVALID, nothing stored) and refuses a taken
//     id or a taken email with ECONFLICT, leaving what is stored as it was. FindUser and
//     FindUserByEmail return what was created, every field (City and BirthYear too; times
//     may come back in another location but must be equal instants; zero stays zero) or
//     ENOTFOUND; FindUserByEmail finds the address in any case and with surrounding spaces.
//   - ListUsers filters by Role (exact; a role that is not one of the three is EINVALID)
//     and by Text (case-insensitive substring of the email or the name; EINVALID unless
//     valid UTF-8 without NUL); orders by
//     CreatedAt then ID; pages by Offset and Limit (0 or less means 20, at most 100, a
//     negative offset is 0); and returns the number of matches before paging.
//   - UpdateUser is atomic: fn's error is returned and nothing is saved; an invalid result
//     or a changed id is EINVALID and not saved; an email another user has is ECONFLICT
//     and not saved; a missing user is ENOTFOUND and fn is not called; concurrent updates
//     are not lost. The email and name the listing searches follow the update.
//   - LinkIdentity stores a link (EINVALID without a provider, a subject or a user;
//     ENOTFOUND when the user does not exist); linking the same (provider, subject) to the
//     same user again is a no-op that keeps the first link; to another user, ECONFLICT.
//     FindIdentity returns the link or ENOTFOUND.
//   - Lookups by a key no record can have (empty, NUL, invalid UTF-8) are ENOTFOUND, never
//     a storage error.
func TestUsers(t *testing.T, open func(t *testing.T) ticketview.UserStore) {
	t.Run("CreateFind", func(t *testing.T) { testCreateFindUser(t, open(t)) })
	t.Run("Conflicts", func(t *testing.T) { testUserConflicts(t, open(t)) })
	t.Run("Validation", func(t *testing.T) { testUserValidation(t, open(t)) })
	t.Run("ListUsers", func(t *testing.T) { testListUsers(t, open(t)) })
	t.Run("UpdateUser", func(t *testing.T) { testUpdateUser(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUserUpdates(t, open(t)) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, open(t)) })
}

// SampleUser returns a valid customer with every field set, created at BaseTime.
func SampleUser(id string) *ticketview.User {
	return &ticketview.User{
		ID: id, Email: id + "@example.com", EmailVerified: true, Name: "Asha " + id, Phone: "+91 (22) 555-0100",
		City: "Bengaluru", BirthYear: 1990,
		Role: ticketview.RoleCustomer, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt: BaseTime, UpdatedAt: BaseTime.Add(time.Second),
	}
}

// utcUser returns a copy of u with its times in UTC, for comparisons.
func utcUser(u *ticketview.User) ticketview.User {
	c := *u
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c
}

func sameUser(t *testing.T, what string, got, want *ticketview.User) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil user", what)
	}
	if g, w := utcUser(got), utcUser(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: user differs:\n got  %+v\n want %+v", what, g, w)
	}
}

func mustCreateUser(t *testing.T, us ticketview.UserStore, u *ticketview.User) {
	t.Helper()
	if err := us.CreateUser(ctxFor(t), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.ID, err)
	}
}

func mustFindUser(t *testing.T, us ticketview.UserStore, id string) *ticketview.User {
	t.Helper()
	u, err := us.FindUser(ctxFor(t), id)
	if err != nil {
		t.Fatalf("FindUser(%s): %v", id, err)
	}
	return u
}

func testCreateFindUser(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	ist := time.FixedZone("IST", 5*3600+1800)
	u := SampleUser("u-1")
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.In(ist), u.UpdatedAt.In(ist) // not UTC on the way in
	mustCreateUser(t, us, u)
	sameUser(t, "FindUser", mustFindUser(t, us, "u-1"), u)
	for _, e := range []string{"u-1@example.com", "U-1@Example.COM", "  u-1@example.com\t"} {
		got, err := us.FindUserByEmail(ctx, e)
		if err != nil {
			t.Fatalf("FindUserByEmail(%q): %v", e, err)
		}
		sameUser(t, "FindUserByEmail "+e, got, u)
	}

	// An account that logs in with a provider only, not yet updated, no phone.
	bare := &ticketview.User{ID: "u_2", Email: "ravi@example.org", Role: ticketview.RoleOrganizer, CreatedAt: BaseTime}
	mustCreateUser(t, us, bare)
	got := mustFindUser(t, us, "u_2")
	sameUser(t, "user without password, phone or update time", got, bare)
	if !got.UpdatedAt.IsZero() || got.PasswordHash != "" {
		t.Fatalf("zero fields came back set: %+v", got)
	}

	_, err := us.FindUser(ctx, "nobody")
	wantCode(t, "missing user", err, ticketview.ENOTFOUND)
	if !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("missing user: %v is not ErrNotFound", err)
	}
	_, err = us.FindUserByEmail(ctx, "nobody@example.com")
	wantCode(t, "missing email", err, ticketview.ENOTFOUND)
	for _, junk := range []string{"not an address", "", "a\x00b@example.com", "\xff\xfe@example.com"} {
		_, err = us.FindUserByEmail(ctx, junk)
		wantCode(t, fmt.Sprintf("FindUserByEmail(%q)", junk), err, ticketview.ENOTFOUND)
	}
	for _, junk := range []string{"", "a\x00b", "\xff\xfe", strings.Repeat("x", 10000)} {
		_, err = us.FindUser(ctx, junk)
		wantCode(t, fmt.Sprintf("FindUser(%q)", junk), err, ticketview.ENOTFOUND)
	}
}

func testUserConflicts(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	u := SampleUser("u-1")
	mustCreateUser(t, us, u)

	sameID := SampleUser("u-1")
	sameID.Email, sameID.Name = "other@example.com", "Impostor"
	wantCode(t, "taken id", us.CreateUser(ctx, sameID), ticketview.ECONFLICT)
	sameUser(t, "after a refused taken id", mustFindUser(t, us, "u-1"), u)
	_, err := us.FindUserByEmail(ctx, "other@example.com")
	wantCode(t, "email of a refused user", err, ticketview.ENOTFOUND)

	sameEmail := SampleUser("u-2")
	sameEmail.Email = u.Email
	wantCode(t, "taken email", us.CreateUser(ctx, sameEmail), ticketview.ECONFLICT)
	_, err = us.FindUser(ctx, "u-2")
	wantCode(t, "user refused for a taken email", err, ticketview.ENOTFOUND)
	got, err := us.FindUserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, "owner of the taken email", got, u)

	// Concurrent creations of one address: exactly one wins.
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := SampleUser(fmt.Sprintf("racer-%d", i))
			c.Email = "race@example.com"
			errs[i] = us.CreateUser(ctx, c)
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case ticketview.ErrorCode(err) != ticketview.ECONFLICT:
			t.Fatalf("racer %d: %v (code %q), want success or ECONFLICT", i, err, codeOf(err))
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent creations of one email succeeded, want 1", wins, n)
	}
	if _, total, err := us.ListUsers(ctx, ticketview.UserFilter{Text: "race@"}); err != nil || total != 1 {
		t.Fatalf("users with the raced email: %d, %v; want 1", total, err)
	}
}

func testUserValidation(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	wantCode(t, "nil user", us.CreateUser(ctx, nil), ticketview.EINVALID)
	for name, mutate := range map[string]func(*ticketview.User){
		"bad id":              func(u *ticketview.User) { u.ID = "bad id!" },
		"empty id":            func(u *ticketview.User) { u.ID = "" },
		"bad role":            func(u *ticketview.User) { u.Role = "buyer" },
		"no role":             func(u *ticketview.User) { u.Role = "" },
		"upper-case email":    func(u *ticketview.User) { u.Email = "Bad@Example.com" },
		"malformed email":     func(u *ticketview.User) { u.Email = "bad@@example" },
		"display-name email":  func(u *ticketview.User) { u.Email = "Bad <bad@example.com>" },
		"no email":            func(u *ticketview.User) { u.Email = "" },
		"control in name":     func(u *ticketview.User) { u.Name = "a\x00b" },
		"overlong name":       func(u *ticketview.User) { u.Name = strings.Repeat("n", ticketview.MaxNameLen+1) },
		"letters in phone":    func(u *ticketview.User) { u.Phone = "call me" },
		"invalid UTF-8 name":  func(u *ticketview.User) { u.Name = "\xff\xfe" },
		"overlong city":       func(u *ticketview.User) { u.City = strings.Repeat("c", ticketview.MaxCityLen+1) },
		"control in city":     func(u *ticketview.User) { u.City = "Pune\n" },
		"year 10000":          func(u *ticketview.User) { u.BirthYear = 10000 },
		"created in 3000 AD?": func(u *ticketview.User) { u.CreatedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		bad := SampleUser("u-bad")
		mutate(bad)
		wantCode(t, "invalid user: "+name, us.CreateUser(ctx, bad), ticketview.EINVALID)
	}
	_, err := us.FindUser(ctx, "u-bad")
	wantCode(t, "invalid user stored?", err, ticketview.ENOTFOUND)
	if list, total, err := us.ListUsers(ctx, ticketview.UserFilter{}); err != nil || total != 0 || len(list) != 0 {
		t.Fatalf("after invalid creates: %d of %d listed, %v; want none", len(list), total, err)
	}
}

// userFixture creates n users (in parallel) and returns them in list order: roles cycle,
// every third is named Devi (in varying case), every fifth has a devi.in address; pairs
// share a creation time, and ids are created out of order.
func userFixture(t *testing.T, us ticketview.UserStore, n int) []*ticketview.User {
	ctx := ctxFor(t)
	roles := []ticketview.Role{ticketview.RoleCustomer, ticketview.RoleCustomer, ticketview.RoleOrganizer, ticketview.RoleAdmin}
	users := make([]*ticketview.User, n)
	for i := range users {
		u := SampleUser(fmt.Sprintf("user-%03d", (i*37)%n))
		u.Role = roles[i%len(roles)]
		u.CreatedAt = BaseTime.Add(time.Duration(i/2) * time.Minute)
		u.UpdatedAt = u.CreatedAt
		if i%3 == 0 {
			u.Name = []string{"Devi Rao", "DEVI K", "devi"}[i%9/3]
		}
		if i%5 == 0 {
			u.Email = u.ID + "@devi.in"
		}
		users[i] = u
	}
	var wg sync.WaitGroup
	work := make(chan *ticketview.User)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := us.CreateUser(ctx, u); err != nil {
					t.Errorf("CreateUser(%s): %v", u.ID, err)
				}
			}
		}()
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(users, func(i, j int) bool {
		if !users[i].CreatedAt.Equal(users[j].CreatedAt) {
			return users[i].CreatedAt.Before(users[j].CreatedAt)
		}
		return users[i].ID < users[j].ID
	})
	return users
}

func testListUsers(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	const n = 130
	all := userFixture(t, us, n)
	filter := func(keep func(*ticketview.User) bool) []*ticketview.User {
		var out []*ticketview.User
		for _, u := range all {
			if keep(u) {
				out = append(out, u)
			}
		}
		return out
	}
	check := func(name string, f ticketview.UserFilter, matching []*ticketview.User, from, count int) {
		t.Helper()
		got, total, err := us.ListUsers(ctx, f)
		if err != nil {
			t.Fatalf("%s: ListUsers: %v", name, err)
		}
		if total != len(matching) {
			t.Errorf("%s: total %d, want %d", name, total, len(matching))
		}
		want := matching[min(from, len(matching)):min(from+count, len(matching))]
		if len(got) != len(want) {
			t.Fatalf("%s: %d users, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("%s: user %d is %s, want %s (order by creation, then id)", name, i, got[i].ID, want[i].ID)
			}
			sameUser(t, name, got[i], want[i])
		}
	}

	check("no filter: default limit 20", ticketview.UserFilter{}, all, 0, 20)
	check("limit 7 offset 3", ticketview.UserFilter{Limit: 7, Offset: 3}, all, 3, 7)
	check("limit over the maximum is 100", ticketview.UserFilter{Limit: 1000}, all, 0, 100)
	check("negative limit is the default", ticketview.UserFilter{Limit: -5}, all, 0, 20)
	check("negative offset is 0", ticketview.UserFilter{Offset: -5, Limit: 5}, all, 0, 5)
	check("last page", ticketview.UserFilter{Offset: 120, Limit: 50}, all, 120, 50)
	check("past the end", ticketview.UserFilter{Offset: 500}, all, 500, 20)

	for _, r := range []ticketview.Role{ticketview.RoleCustomer, ticketview.RoleOrganizer, ticketview.RoleAdmin} {
		match := filter(func(u *ticketview.User) bool { return u.Role == r })
		check("role "+string(r), ticketview.UserFilter{Role: r, Limit: 100}, match, 0, 100)
	}
	customers := filter(func(u *ticketview.User) bool { return u.Role == ticketview.RoleCustomer })
	check("role, page 2", ticketview.UserFilter{Role: ticketview.RoleCustomer, Offset: 10, Limit: 10}, customers, 10, 10)
	_, _, err := us.ListUsers(ctx, ticketview.UserFilter{Role: "buyer"})
	wantCode(t, "unknown role", err, ticketview.EINVALID)

	devi := filter(func(u *ticketview.User) bool {
		return strings.Contains(strings.ToLower(u.Name), "devi") || strings.Contains(u.Email, "devi")
	})
	if len(devi) < 40 {
		t.Fatalf("fixture: only %d users match devi", len(devi))
	}
	check("text in name or email, any case", ticketview.UserFilter{Text: " dEvI ", Limit: 100}, devi, 0, 100)
	byMail := filter(func(u *ticketview.User) bool { return strings.HasSuffix(u.Email, "@devi.in") })
	check("text in email only", ticketview.UserFilter{Text: "@DEVI.IN"}, byMail, 0, 20)
	check("text matching nothing", ticketview.UserFilter{Text: "zebra"}, nil, 0, 20)
	check("text with LIKE wildcards is literal", ticketview.UserFilter{Text: "%"}, nil, 0, 20)
	check("text with '_' is literal", ticketview.UserFilter{Text: "user_"}, nil, 0, 20)
	for _, junk := range []string{"a\x00b", "\xff"} {
		_, _, err := us.ListUsers(ctx, ticketview.UserFilter{Text: junk})
		wantCode(t, fmt.Sprintf("text %q", junk), err, ticketview.EINVALID)
	}
	both := filter(func(u *ticketview.User) bool {
		return u.Role == ticketview.RoleCustomer && (strings.Contains(strings.ToLower(u.Name), "devi") || strings.Contains(u.Email, "devi"))
	})
	check("role and text, paged", ticketview.UserFilter{Role: ticketview.RoleCustomer, Text: "devi", Offset: 2, Limit: 3}, both, 2, 3)
}

func testUpdateUser(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	u := SampleUser("u-1")
	mustCreateUser(t, us, u)
	other := SampleUser("u-2")
	mustCreateUser(t, us, other)

	later := BaseTime.Add(time.Hour).In(time.FixedZone("CET", 3600))
	var received ticketview.User // fn may run on another goroutine: no t.Fatal in it
	got, err := us.UpdateUser(ctx, "u-1", func(x *ticketview.User) error {
		received = *x
		x.Name, x.Role, x.EmailVerified, x.Disabled = "Meera Iyer", ticketview.RoleOrganizer, false, true
		x.Email, x.Phone, x.PasswordHash, x.UpdatedAt = "meera@example.com", "", "", later
		x.City, x.BirthYear = "Thiruvananthapuram", 1975
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	sameUser(t, "fn received the stored user", &received, u)
	want := *u
	want.Name, want.Role, want.EmailVerified, want.Disabled = "Meera Iyer", ticketview.RoleOrganizer, false, true
	want.Email, want.Phone, want.PasswordHash, want.UpdatedAt = "meera@example.com", "", "", later
	want.City, want.BirthYear = "Thiruvananthapuram", 1975
	sameUser(t, "returned", got, &want)
	sameUser(t, "stored", mustFindUser(t, us, "u-1"), &want)
	if found, err := us.FindUserByEmail(ctx, "MEERA@example.com"); err != nil || found.ID != "u-1" {
		t.Fatalf("by the new email: %+v, %v", found, err)
	}
	_, err = us.FindUserByEmail(ctx, u.Email)
	wantCode(t, "the old email", err, ticketview.ENOTFOUND)
	// The searched and filtered fields moved too.
	if list, total, err := us.ListUsers(ctx, ticketview.UserFilter{Role: ticketview.RoleOrganizer, Text: "meera"}); err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("listing the updated user: %d of %d, %v", len(list), total, err)
	}
	if _, total, _ := us.ListUsers(ctx, ticketview.UserFilter{Text: "asha u-1"}); total != 0 {
		t.Fatal("the old name is still searched")
	}
	// The old email is free again.
	if _, err := us.UpdateUser(ctx, "u-2", func(x *ticketview.User) error { x.Email = u.Email; return nil }); err != nil {
		t.Fatalf("taking the freed email: %v", err)
	}
	other.Email = u.Email

	// fn fails: its error comes back and nothing is saved.
	_, err = us.UpdateUser(ctx, "u-1", func(x *ticketview.User) error {
		x.Name = "Should not stick"
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateUser with a failing fn: %v, want fn's error", err)
	}
	sameUser(t, "after a failing fn", mustFindUser(t, us, "u-1"), &want)

	// fn's domain error keeps its code.
	_, err = us.UpdateUser(ctx, "u-1", func(*ticketview.User) error {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "not yours")
	})
	wantCode(t, "fn's domain error", err, ticketview.EFORBIDDEN)

	for name, mutate := range map[string]func(*ticketview.User){
		"bad role":         func(x *ticketview.User) { x.Role = "root" },
		"upper-case email": func(x *ticketview.User) { x.Email = "Meera@Example.com" },
		"changed id":       func(x *ticketview.User) { x.ID = "u-9" },
		"overlong city":    func(x *ticketview.User) { x.City = strings.Repeat("c", ticketview.MaxCityLen+1) },
		"negative year":    func(x *ticketview.User) { x.BirthYear = -1 },
	} {
		_, err = us.UpdateUser(ctx, "u-1", func(x *ticketview.User) error { x.Name = "Not saved"; mutate(x); return nil })
		wantCode(t, "update to an invalid user: "+name, err, ticketview.EINVALID)
	}
	sameUser(t, "after invalid updates", mustFindUser(t, us, "u-1"), &want)
	_, err = us.FindUser(ctx, "u-9")
	wantCode(t, "user under a changed id", err, ticketview.ENOTFOUND)

	// Taking another user's email.
	_, err = us.UpdateUser(ctx, "u-1", func(x *ticketview.User) error { x.Email, x.Name = other.Email, "Not saved"; return nil })
	wantCode(t, "update to a taken email", err, ticketview.ECONFLICT)
	sameUser(t, "after a taken email", mustFindUser(t, us, "u-1"), &want)
	sameUser(t, "the email's owner", mustFindUser(t, us, "u-2"), other)

	for _, id := range []string{"nobody", "", "a\x00b", "\xff"} {
		called := false
		_, err = us.UpdateUser(ctx, id, func(*ticketview.User) error { called = true; return nil })
		wantCode(t, fmt.Sprintf("update of a missing user %q", id), err, ticketview.ENOTFOUND)
		if called {
			t.Fatalf("fn was called for a missing user %q", id)
		}
	}
}

func testConcurrentUserUpdates(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	u := SampleUser("u-1")
	u.Name = "0"
	mustCreateUser(t, us, u)
	const n = 25
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := us.UpdateUser(ctx, "u-1", func(x *ticketview.User) error {
				k, err := strconv.Atoi(x.Name)
				if err != nil {
					return err
				}
				x.Name = strconv.Itoa(k + 1)
				return nil
			}); err != nil {
				t.Errorf("UpdateUser: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := mustFindUser(t, us, "u-1"); got.Name != strconv.Itoa(n) {
		t.Fatalf("name %q after %d concurrent increments from 0: updates were lost", got.Name, n)
	}
}

func sameIdentity(t *testing.T, what string, got, want *ticketview.Identity) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil identity", what)
	}
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt = g.CreatedAt.UTC(), w.CreatedAt.UTC()
	if g != w {
		t.Fatalf("%s: identity differs:\n got  %+v\n want %+v", what, g, w)
	}
}

func testIdentities(t *testing.T, us ticketview.UserStore) {
	ctx := ctxFor(t)
	mustCreateUser(t, us, SampleUser("u-1"))
	mustCreateUser(t, us, SampleUser("u-2"))

	g := ticketview.Identity{Provider: "google", Subject: "1098765432101234567890", UserID: "u-1",
		Email: "Asha.U1@gmail.com", CreatedAt: BaseTime.In(time.FixedZone("PST", -8*3600))}
	if err := us.LinkIdentity(ctx, g); err != nil {
		t.Fatalf("LinkIdentity: %v", err)
	}
	got, err := us.FindIdentity(ctx, "google", g.Subject)
	if err != nil {
		t.Fatalf("FindIdentity: %v", err)
	}
	sameIdentity(t, "found", got, &g)

	again := g
	again.Email, again.CreatedAt = "changed@gmail.com", BaseTime.Add(time.Hour)
	if err := us.LinkIdentity(ctx, again); err != nil {
		t.Fatalf("linking again to the same user: %v, want a no-op", err)
	}
	got, _ = us.FindIdentity(ctx, "google", g.Subject)
	sameIdentity(t, "after linking again", got, &g)

	stolen := g
	stolen.UserID = "u-2"
	wantCode(t, "linking to another user", us.LinkIdentity(ctx, stolen), ticketview.ECONFLICT)
	got, _ = us.FindIdentity(ctx, "google", g.Subject)
	sameIdentity(t, "after a refused link", got, &g)

	// The same subject at another provider is another login; a user may have several.
	fb := ticketview.Identity{Provider: "facebook", Subject: g.Subject, UserID: "u-2"}
	if err := us.LinkIdentity(ctx, fb); err != nil {
		t.Fatalf("LinkIdentity(facebook): %v", err)
	}
	fb2 := ticketview.Identity{Provider: "facebook", Subject: "other", UserID: "u-2", CreatedAt: BaseTime}
	if err := us.LinkIdentity(ctx, fb2); err != nil {
		t.Fatalf("second link of a user: %v", err)
	}
	for _, want := range []ticketview.Identity{g, fb, fb2} {
		got, err := us.FindIdentity(ctx, want.Provider, want.Subject)
		if err != nil {
			t.Fatalf("FindIdentity(%s, %s): %v", want.Provider, want.Subject, err)
		}
		sameIdentity(t, want.Provider+"/"+want.Subject, got, &want)
	}

	_, err = us.FindIdentity(ctx, "google", "unknown")
	wantCode(t, "unknown subject", err, ticketview.ENOTFOUND)
	_, err = us.FindIdentity(ctx, "GOOGLE", g.Subject)
	wantCode(t, "provider in another case", err, ticketview.ENOTFOUND)
	_, err = us.FindIdentity(ctx, "google\x00", "\xff")
	wantCode(t, "junk provider and subject", err, ticketview.ENOTFOUND)
	for _, u := range []string{"nobody", "a\x00b", "\xff"} {
		wantCode(t, fmt.Sprintf("link to a missing user %q", u), us.LinkIdentity(ctx, ticketview.Identity{Provider: "google", Subject: "x", UserID: u}),
			ticketview.ENOTFOUND)
	}
	for name, bad := range map[string]ticketview.Identity{
		"no provider":      {Subject: "s", UserID: "u-1"},
		"no subject":       {Provider: "google", UserID: "u-1"},
		"no user":          {Provider: "google", Subject: "s"},
		"control in email": {Provider: "google", Subject: "s", UserID: "u-1", Email: "a\nb"},
		"overlong subject": {Provider: "google", Subject: strings.Repeat("s", 1000), UserID: "u-1"},
		"invalid UTF-8":    {Provider: "google", Subject: "s\xff", UserID: "u-1"},
		"NUL in provider":  {Provider: "goo\x00gle", Subject: "s", UserID: "u-1"},
	} {
		wantCode(t, "invalid identity: "+name, us.LinkIdentity(ctx, bad), ticketview.EINVALID)
	}
	_, err = us.FindIdentity(ctx, "google", "s")
	wantCode(t, "invalid identity stored?", err, ticketview.ENOTFOUND)
	_, err = us.FindIdentity(ctx, "google", "x")
	wantCode(t, "identity of a missing user stored?", err, ticketview.ENOTFOUND)
}

// TestSessions checks a ticketview.SessionStore against the contract. open is called once
// per subtest and must return a store without refresh tokens. The contract:
//
//   - CreateRefreshToken stores a token: EINVALID without an id, a family or a user, or
//     without a creation time and an expiry after it; ECONFLICT when the id is taken or
//     the family belongs to another user; EUNAUTHORIZED when the family was revoked.
//     Nothing is stored when it fails.
//   - UseRefreshToken spends a token and returns it (times as equal instants); of
//     concurrent uses exactly one wins. EUNAUTHORIZED when it is unknown, expired at now
//     (ExpiresAt not after now; such a use spends nothing), or its family revoked. A
//     spent token used again is EUNAUTHORIZED and revokes its family: every token of it,
//     the live one included, and any later rotation into it.
//   - An id no token can have (empty, NUL, invalid UTF-8) is unknown: EUNAUTHORIZED.
//   - RevokeFamily and RevokeUser revoke every token of a family or of a user (other
//     families and users keep theirs; logins after RevokeUser work). Revoking what is
//     unknown or already revoked is a no-op; an empty family or user is EINVALID.
func TestSessions(t *testing.T, open func(t *testing.T) ticketview.SessionStore) {
	t.Run("Rotation", func(t *testing.T) { testRotation(t, open(t)) })
	t.Run("Create", func(t *testing.T) { testCreateToken(t, open(t)) })
	t.Run("Expiry", func(t *testing.T) { testTokenExpiry(t, open(t)) })
	t.Run("Unknown", func(t *testing.T) { testUnknownToken(t, open(t)) })
	t.Run("RevokeFamily", func(t *testing.T) { testRevokeFamily(t, open(t)) })
	t.Run("RevokeUser", func(t *testing.T) { testRevokeUser(t, open(t)) })
	t.Run("ConcurrentUse", func(t *testing.T) { testConcurrentUse(t, open(t)) })
}

// SampleRefreshToken returns a token of the family, created at BaseTime and valid for 30
// days, with an id that looks like a SHA-256 in hex.
func SampleRefreshToken(id, family, user string) ticketview.RefreshToken {
	return ticketview.RefreshToken{
		ID: fmt.Sprintf("%064x", id), UserID: user, Family: family,
		CreatedAt: BaseTime, ExpiresAt: BaseTime.Add(30 * 24 * time.Hour),
	}
}

func mustCreateToken(t *testing.T, ss ticketview.SessionStore, tok ticketview.RefreshToken) {
	t.Helper()
	if err := ss.CreateRefreshToken(ctxFor(t), tok); err != nil {
		t.Fatalf("CreateRefreshToken(%s): %v", tok.ID, err)
	}
}

// mustUse spends tok at now and checks what comes back.
func mustUse(t *testing.T, ss ticketview.SessionStore, tok ticketview.RefreshToken, now time.Time) {
	t.Helper()
	got, err := ss.UseRefreshToken(ctxFor(t), tok.ID, now)
	if err != nil {
		t.Fatalf("UseRefreshToken(%s): %v", tok.ID, err)
	}
	sameToken(t, "used", got, tok)
}

func sameToken(t *testing.T, what string, got, want ticketview.RefreshToken) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Family != want.Family ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("%s: token differs:\n got  %+v\n want %+v", what, got, want)
	}
}

func wantUnauthorized(t *testing.T, ss ticketview.SessionStore, what, id string, now time.Time) {
	t.Helper()
	_, err := ss.UseRefreshToken(ctxFor(t), id, now)
	wantCode(t, what, err, ticketview.EUNAUTHORIZED)
}

func testRotation(t *testing.T, ss ticketview.SessionStore) {
	now := BaseTime.Add(time.Hour)
	t1 := SampleRefreshToken("t1", "fam-1", "u-1")
	t1.CreatedAt = t1.CreatedAt.In(time.FixedZone("IST", 5*3600+1800))
	mustCreateToken(t, ss, t1)
	other := SampleRefreshToken("o1", "fam-2", "u-1") // another login of the same user
	mustCreateToken(t, ss, other)

	mustUse(t, ss, t1, now)
	t2 := SampleRefreshToken("t2", "fam-1", "u-1") // the rotation's next token
	t2.CreatedAt = now
	mustCreateToken(t, ss, t2)

	// The spent token again: refused, and the family is revoked, its live token too.
	wantUnauthorized(t, ss, "spent token used again", t1.ID, now)
	wantUnauthorized(t, ss, "live token of a family revoked by reuse", t2.ID, now)
	wantUnauthorized(t, ss, "spent token a third time", t1.ID, now)
	// A rotation that raced the revocation issues nothing usable.
	t3 := SampleRefreshToken("t3", "fam-1", "u-1")
	wantCode(t, "new token in a revoked family", ss.CreateRefreshToken(ctxFor(t), t3), ticketview.EUNAUTHORIZED)
	wantUnauthorized(t, ss, "token refused in a revoked family", t3.ID, now)

	// The user's other login is untouched.
	mustUse(t, ss, other, now)
}

func testCreateToken(t *testing.T, ss ticketview.SessionStore) {
	ctx := ctxFor(t)
	now := BaseTime.Add(time.Hour)
	tok := SampleRefreshToken("t1", "fam-1", "u-1")
	mustCreateToken(t, ss, tok)
	dup := SampleRefreshToken("t1", "fam-9", "u-9")
	wantCode(t, "taken id", ss.CreateRefreshToken(ctx, dup), ticketview.ECONFLICT)
	foreign := SampleRefreshToken("t2", "fam-1", "u-2")
	wantCode(t, "family of another user", ss.CreateRefreshToken(ctx, foreign), ticketview.ECONFLICT)
	wantUnauthorized(t, ss, "token refused for a foreign family", foreign.ID, now)

	for name, mutate := range map[string]func(*ticketview.RefreshToken){
		"no id":              func(x *ticketview.RefreshToken) { x.ID = "" },
		"space in id":        func(x *ticketview.RefreshToken) { x.ID = "a b" },
		"no family":          func(x *ticketview.RefreshToken) { x.Family = "" },
		"no user":            func(x *ticketview.RefreshToken) { x.UserID = "" },
		"junk user":          func(x *ticketview.RefreshToken) { x.UserID = "u\x00\xff" },
		"junk family":        func(x *ticketview.RefreshToken) { x.Family = "f\x00\xff" },
		"no creation time":   func(x *ticketview.RefreshToken) { x.CreatedAt = time.Time{} },
		"no expiry":          func(x *ticketview.RefreshToken) { x.ExpiresAt = time.Time{} },
		"expiry at creation": func(x *ticketview.RefreshToken) { x.ExpiresAt = x.CreatedAt },
	} {
		bad := SampleRefreshToken("bad", "fam-3", "u-3")
		mutate(&bad)
		wantCode(t, "invalid token: "+name, ss.CreateRefreshToken(ctx, bad), ticketview.EINVALID)
	}
	wantUnauthorized(t, ss, "invalid token stored?", SampleRefreshToken("bad", "", "").ID, now)
	// The refused tokens left the family free for its user.
	mustCreateToken(t, ss, SampleRefreshToken("t3", "fam-3", "u-3"))

	// The stored token is intact.
	mustUse(t, ss, tok, now)
}

func testTokenExpiry(t *testing.T, ss ticketview.SessionStore) {
	tok := SampleRefreshToken("t1", "fam-1", "u-1")
	mustCreateToken(t, ss, tok)
	wantUnauthorized(t, ss, "used at its expiry", tok.ID, tok.ExpiresAt)
	wantUnauthorized(t, ss, "used after its expiry", tok.ID, tok.ExpiresAt.Add(time.Hour))
	// Refusing an expired use neither spent the token nor revoked its family: just before
	// its expiry (a clock that went back) it still works once.
	mustUse(t, ss, tok, tok.ExpiresAt.Add(-time.Nanosecond))
	wantUnauthorized(t, ss, "spent", tok.ID, tok.ExpiresAt.Add(-time.Nanosecond))
}

func testUnknownToken(t *testing.T, ss ticketview.SessionStore) {
	now := BaseTime
	wantUnauthorized(t, ss, "unknown token", SampleRefreshToken("nope", "f", "u").ID, now)
	wantUnauthorized(t, ss, "empty id", "", now)
	wantUnauthorized(t, ss, "junk id", "'; DROP TABLE refresh_tokens; --\x00\xff", now)
	tok := SampleRefreshToken("known", "fam-1", "u-1") // hex with letters
	mustCreateToken(t, ss, tok)
	if up := strings.ToUpper(tok.ID); up == tok.ID {
		t.Fatalf("fixture: id %s has no letters", tok.ID)
	} else {
		wantUnauthorized(t, ss, "a known id in upper case", up, now)
	}
	wantUnauthorized(t, ss, "a prefix of a known id", tok.ID[:32], now)
	mustUse(t, ss, tok, now)
}

func testRevokeFamily(t *testing.T, ss ticketview.SessionStore) {
	ctx := ctxFor(t)
	now := BaseTime.Add(time.Minute)
	a1, a2 := SampleRefreshToken("a1", "fam-a", "u-1"), SampleRefreshToken("a2", "fam-a", "u-1")
	b1 := SampleRefreshToken("b1", "fam-b", "u-1")
	for _, tok := range []ticketview.RefreshToken{a1, a2, b1} {
		mustCreateToken(t, ss, tok)
	}
	if err := ss.RevokeFamily(ctx, "fam-a"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	wantUnauthorized(t, ss, "token of a revoked family", a1.ID, now)
	wantUnauthorized(t, ss, "other token of a revoked family", a2.ID, now)
	wantCode(t, "new token in a revoked family", ss.CreateRefreshToken(ctx, SampleRefreshToken("a3", "fam-a", "u-1")),
		ticketview.EUNAUTHORIZED)
	for _, f := range []string{"fam-a", "no-such-family", "junk\x00\xff"} {
		if err := ss.RevokeFamily(ctx, f); err != nil {
			t.Fatalf("RevokeFamily(%s) again or unknown: %v, want a no-op", f, err)
		}
	}
	wantCode(t, "revoke no family", ss.RevokeFamily(ctx, ""), ticketview.EINVALID)
	mustUse(t, ss, b1, now)
}

func testRevokeUser(t *testing.T, ss ticketview.SessionStore) {
	ctx := ctxFor(t)
	now := BaseTime.Add(time.Minute)
	u1a, u1b := SampleRefreshToken("u1a", "fam-1a", "u-1"), SampleRefreshToken("u1b", "fam-1b", "u-1")
	u2 := SampleRefreshToken("u2", "fam-2", "u-2")
	for _, tok := range []ticketview.RefreshToken{u1a, u1b, u2} {
		mustCreateToken(t, ss, tok)
	}
	if err := ss.RevokeUser(ctx, "u-1"); err != nil {
		t.Fatalf("RevokeUser: %v", err)
	}
	wantUnauthorized(t, ss, "first login of a revoked user", u1a.ID, now)
	wantUnauthorized(t, ss, "second login of a revoked user", u1b.ID, now)
	wantCode(t, "rotation into a family of a revoked user", ss.CreateRefreshToken(ctx, SampleRefreshToken("u1c", "fam-1a", "u-1")),
		ticketview.EUNAUTHORIZED)
	for _, u := range []string{"u-1", "nobody", "junk\x00\xff"} {
		if err := ss.RevokeUser(ctx, u); err != nil {
			t.Fatalf("RevokeUser(%s) again or unknown: %v, want a no-op", u, err)
		}
	}
	wantCode(t, "revoke no user", ss.RevokeUser(ctx, ""), ticketview.EINVALID)
	mustUse(t, ss, u2, now)
	// A new login of the revoked user works.
	fresh := SampleRefreshToken("u1new", "fam-1new", "u-1")
	mustCreateToken(t, ss, fresh)
	mustUse(t, ss, fresh, now)
}

// testConcurrentUse: 20 workers use the same token at once, in several rounds: exactly
// one wins each time, and the others (reusing a spent token) revoke the family.
func testConcurrentUse(t *testing.T, ss ticketview.SessionStore) {
	ctx := ctxFor(t)
	const workers, rounds = 20, 5
	now := BaseTime.Add(time.Minute)
	for r := range rounds {
		family := fmt.Sprintf("fam-%d", r)
		tok := SampleRefreshToken(fmt.Sprintf("race-%d", r), family, "u-1")
		sibling := SampleRefreshToken(fmt.Sprintf("sib-%d", r), family, "u-1")
		mustCreateToken(t, ss, tok)
		mustCreateToken(t, ss, sibling)
		start := make(chan struct{})
		got := make([]ticketview.RefreshToken, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = ss.UseRefreshToken(ctx, tok.ID, now)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				sameToken(t, "the winner's token", got[i], tok)
			case ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED:
				t.Fatalf("round %d, worker %d: %v (code %q), want success or EUNAUTHORIZED", r, i, err, codeOf(err))
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of %d concurrent uses of one token succeeded, want exactly 1", r, wins, workers)
		}
		// The losers reused a spent token: the family is revoked.
		wantUnauthorized(t, ss, "sibling after the race", sibling.ID, now)
	}
}
