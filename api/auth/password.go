package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/ticketview/ticketview"
)

// HashParams are the cost parameters of argon2id.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
}

var (
	// DefaultHash is the production cost: OWASP's recommended argon2id setting (19 MiB,
	// 2 passes, 1 lane).
	DefaultHash = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}
	// FastHash is cheap, for tests only: it is not a safe password hash.
	FastHash = HashParams{Memory: 64, Time: 1, Threads: 1}
)

// Limits accepted when hashing and when parsing a stored hash, so a hostile or corrupt
// hash string cannot make CheckPasswordHash allocate gigabytes or spin for minutes.
const (
	maxHashMemory  = 256 * 1024 // KiB: 256 MiB
	maxHashTime    = 16
	maxHashThreads = 16
	saltLen        = 16
	keyLen         = 32
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	maxHashString  = 512
)

// validate checks p is usable: argon2 needs at least 8 KiB per lane.
func (p HashParams) validate() error {
	switch {
	case p.Threads == 0 || p.Threads > maxHashThreads:
		return ticketview.Errorf(ticketview.EINVALID, "argon2id threads must be 1 to %d", maxHashThreads)
	case p.Time == 0 || p.Time > maxHashTime:
		return ticketview.Errorf(ticketview.EINVALID, "argon2id time must be 1 to %d", maxHashTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory:
		return ticketview.Errorf(ticketview.EINVALID, "argon2id memory must be %d to %d KiB", 8*uint32(p.Threads), maxHashMemory)
	}
	return nil
}

// HashPassword hashes password with argon2id, p and a random 16-byte salt, and returns
// the PHC string form "$argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>" (salt
// and hash in unpadded standard base64). It checks p, not the password's rules: see
// ticketview.CheckPassword. EINVALID when p is out of range.
func HashPassword(p HashParams, password string) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand aborts the program instead)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return encodeHash(p, salt, key), nil
}

func encodeHash(p HashParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPasswordHash reports whether password matches hash, a PHC string made by
// HashPassword (its parameters, salt and length are read from it), comparing in constant
// time. A hash that is not such a string, or whose parameters are beyond sane limits, is
// an EINVALID error (and false); it never panics.
func CheckPasswordHash(hash, password string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// hashParams returns the parameters of a PHC hash string.
func hashParams(hash string) (HashParams, bool) {
	p, _, _, err := parseHash(hash)
	return p, err == nil
}

func parseHash(hash string) (p HashParams, salt, key []byte, err error) {
	bad := func(why string) (HashParams, []byte, []byte, error) {
		return HashParams{}, nil, nil, ticketview.Errorf(ticketview.EINVALID, "password hash is malformed: %s", why)
	}
	if len(hash) > maxHashString {
		return bad("too long")
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("not a PHC string")
	}
	if parts[1] != "argon2id" {
		return bad("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return bad("bad parameters")
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || v != strconv.FormatUint(n, 10) {
			return bad("bad parameter " + strconv.Quote(k))
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("bad parameter \"p\"")
			}
			p.Threads = uint8(n)
		default:
			return bad("unknown parameter " + strconv.Quote(k))
		}
	}
	if len(seen) != 3 {
		return bad("missing parameters")
	}
	if err := p.validate(); err != nil {
		return bad("parameters out of range")
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return bad("bad salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad("bad hash")
	}
	return p, salt, key, nil
}
