package auth_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// FuzzVerify: any input is refused with EUNAUTHORIZED or accepted with sane claims;
// never a panic.
func FuzzVerify(f *testing.F) {
	db, err := sqlite.Open(filepath.Join(f.TempDir(), "ticketview.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc, err := auth.New(auth.Config{Users: db, Sessions: db, Secret: testSecret, Hash: auth.FastHash})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ0aWNrZXR2aWV3Iiwic3ViIjoidSIsInJvbGUiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.sig",
		"eyJhbGciOiJIUzI1NiJ9.e30.AAAA", strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := svc.Verify(token)
		if err != nil {
			if ticketview.ErrorCode(err) != ticketview.EUNAUTHORIZED {
				t.Fatalf("Verify(%q) error %v, want %s", token, err, ticketview.EUNAUTHORIZED)
			}
			return
		}
		// Only a token signed with the secret can pass: the fuzzer should never get here.
		t.Fatalf("Verify accepted a forged token %q: %+v", token, c)
	})
}

// FuzzCheckPasswordHash: any hash string gives an answer or EINVALID, never a panic, and
// a well-formed hash still refuses the wrong password.
func FuzzCheckPasswordHash(f *testing.F) {
	good, err := auth.HashPassword(auth.FastHash, "correct horse battery")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "$", "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		strings.Replace(good, "m=64", "m=4294967295", 1), strings.Replace(good, "p=1", "p=0", 1)} {
		f.Add(s, "correct horse battery")
	}
	f.Fuzz(func(t *testing.T, hash, password string) {
		ok, err := auth.CheckPasswordHash(hash, password)
		if err != nil && (ok || ticketview.ErrorCode(err) != ticketview.EINVALID) {
			t.Fatalf("CheckPasswordHash(%q) = %v, %v", hash, ok, err)
		}
		if ok && hash == good && password != "correct horse battery" {
			t.Fatalf("hash of another password accepted %q", password)
		}
	})
}
