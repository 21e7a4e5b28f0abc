package auth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery", "pässwörd-ünïcode-🔑", strings.Repeat("x", 256), ""} {
		h, err := auth.HashPassword(auth.FastHash, pw)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := auth.CheckPasswordHash(h, pw)
		if err != nil || !ok {
			t.Fatalf("check(%q) = %v, %v; want true", pw, ok, err)
		}
		for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", "", " " + pw} {
			if wrong == pw {
				continue
			}
			if ok, err := auth.CheckPasswordHash(h, wrong); err != nil || ok {
				t.Fatalf("check(%q) against hash of %q = %v, %v; want false", wrong, pw, ok, err)
			}
		}
	}
}

func TestHashPasswordFormat(t *testing.T) {
	h, err := auth.HashPassword(auth.DefaultHash, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", auth.DefaultHash.Memory, auth.DefaultHash.Time, auth.DefaultHash.Threads)
	if !strings.HasPrefix(h, prefix) {
		t.Fatalf("hash %q does not start with %q", h, prefix)
	}
	if auth.DefaultHash.Memory < 19*1024 || auth.DefaultHash.Time < 2 {
		t.Fatalf("DefaultHash %+v is below OWASP's argon2id minimum", auth.DefaultHash)
	}
	parts := strings.Split(h, "$")
	if len(parts) != 6 || len(parts[4]) != 22 || len(parts[5]) != 43 { // 16-byte salt, 32-byte key, unpadded
		t.Fatalf("unexpected salt or key length in %q", h)
	}
	// Same password, new salt: a different hash, both valid.
	h2, _ := auth.HashPassword(auth.DefaultHash, "correct horse battery")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if ok, err := auth.CheckPasswordHash(h2, "correct horse battery"); !ok || err != nil {
		t.Fatalf("second hash: %v, %v", ok, err)
	}
}

func TestHashPasswordBadParams(t *testing.T) {
	for _, p := range []auth.HashParams{
		{}, {Memory: 64, Time: 0, Threads: 1}, {Memory: 64, Time: 1, Threads: 0},
		{Memory: 7, Time: 1, Threads: 1}, {Memory: 16, Time: 1, Threads: 4}, {Memory: 1 << 30, Time: 1, Threads: 1},
	} {
		if _, err := auth.HashPassword(p, "correct horse battery"); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("HashPassword(%+v) error = %v, want %s", p, err, ticketview.EINVALID)
		}
	}
}

func TestCheckPasswordHashMalformed(t *testing.T) {
	good, err := auth.HashPassword(auth.FastHash, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	join := func(p ...string) string { return strings.Join(p, "$") }
	for name, h := range map[string]string{
		"empty":          "",
		"garbage":        "not a hash",
		"bcrypt":         "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":        join("", "argon2i", parts[2], parts[3], parts[4], parts[5]),
		"old version":    join("", "argon2id", "v=16", parts[3], parts[4], parts[5]),
		"no version":     join("", "argon2id", parts[3], parts[4], parts[5]),
		"extra field":    good + "$",
		"missing param":  join("", "argon2id", parts[2], "m=64,t=1", parts[4], parts[5]),
		"repeated param": join("", "argon2id", parts[2], "m=64,m=64,t=1", parts[4], parts[5]),
		"unknown param":  join("", "argon2id", parts[2], "m=64,t=1,p=1,x=2", parts[4], parts[5]),
		"negative":       join("", "argon2id", parts[2], "m=-64,t=1,p=1", parts[4], parts[5]),
		"leading zero":   join("", "argon2id", parts[2], "m=064,t=1,p=1", parts[4], parts[5]),
		"overflow":       join("", "argon2id", parts[2], "m=99999999999,t=1,p=1", parts[4], parts[5]),
		"huge memory":    join("", "argon2id", parts[2], "m=4294967295,t=1,p=1", parts[4], parts[5]),
		"huge time":      join("", "argon2id", parts[2], "m=64,t=4294967295,p=1", parts[4], parts[5]),
		"zero threads":   join("", "argon2id", parts[2], "m=64,t=1,p=0", parts[4], parts[5]),
		"threads > 255":  join("", "argon2id", parts[2], "m=4096,t=1,p=257", parts[4], parts[5]),
		"memory < 8p":    join("", "argon2id", parts[2], "m=8,t=1,p=2", parts[4], parts[5]),
		"bad salt":       join("", "argon2id", parts[2], parts[3], "!!!!", parts[5]),
		"short salt":     join("", "argon2id", parts[2], parts[3], "AAAA", parts[5]),
		"padded salt":    join("", "argon2id", parts[2], parts[3], parts[4]+"==", parts[5]),
		"empty key":      join("", "argon2id", parts[2], parts[3], parts[4], ""),
		"short key":      join("", "argon2id", parts[2], parts[3], parts[4], "AAAAAA"),
		"long":           good + strings.Repeat("A", 1000),
	} {
		ok, err := auth.CheckPasswordHash(h, "correct horse battery")
		if ok || ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("%s: CheckPasswordHash(%q) = %v, %v; want false and %s", name, h, ok, err, ticketview.EINVALID)
		}
	}
}

// A hash made with other parameters still checks: they are read from the string.
func TestCheckPasswordHashReadsParams(t *testing.T) {
	p := auth.HashParams{Memory: 256, Time: 3, Threads: 2}
	h, err := auth.HashPassword(p, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=256,t=3,p=2$") {
		t.Fatalf("hash %q does not carry its parameters", h)
	}
	if ok, err := auth.CheckPasswordHash(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("check = %v, %v", ok, err)
	}
	// Changing a parameter changes the result: they are used, not just parsed.
	if ok, err := auth.CheckPasswordHash(strings.Replace(h, "t=3", "t=2", 1), "correct horse battery"); ok || err != nil {
		t.Fatalf("check with altered time = %v, %v; want false", ok, err)
	}
}
