package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketview/ticketview"
)

// Claims are what a verified access token says about its bearer.
type Claims struct {
	UserID    string
	Role      ticketview.Role
	Email     string
	Family    string // the login session's refresh family
	ExpiresAt time.Time
}

// accessClaims is the JWT body: the registered claims (sub = user id, iss, iat, nbf,
// exp, jti) and ours.
type accessClaims struct {
	jwt.RegisteredClaims
	Role   ticketview.Role `json:"role"`
	Email  string          `json:"email"`
	Family string          `json:"fam"`
}

const (
	// verifyLeeway is the clock skew Verify tolerates on exp, nbf and iat.
	verifyLeeway = 30 * time.Second
	// maxAccessTokenLen bounds what Verify parses: ours are a few hundred bytes.
	maxAccessTokenLen = 4096
)

var errBadAccessToken = ticketview.Errorf(ticketview.EUNAUTHORIZED, "invalid or expired access token")

// issueAccess signs an access token for u in the login session family.
func (s *Service) issueAccess(u *ticketview.User, family string, now time.Time) (string, error) {
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.accessTTL)),
			ID:        randomHex(16),
		},
		Role:   u.Role,
		Email:  u.Email,
		Family: family,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
}

// Verify checks an access token: signed with HS256 and the service's secret (any other
// algorithm, "none" included, is refused), from this issuer, with a subject and a valid
// role, and not expired at Now (30 s of leeway for clock skew). Every failure is the same
// EUNAUTHORIZED error. Verify needs no store: a token stays valid until it expires even
// if its session is revoked, which is why access tokens are short-lived.
func (s *Service) Verify(accessToken string) (Claims, error) {
	accessToken = strings.TrimSpace(accessToken)
	if accessToken == "" || len(accessToken) > maxAccessTokenLen {
		return Claims{}, errBadAccessToken
	}
	var c accessClaims
	_, err := s.parser.ParseWithClaims(accessToken, &c, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return s.secret, nil
	})
	if err != nil || c.Subject == "" || !c.Role.Valid() || c.ExpiresAt == nil {
		return Claims{}, errBadAccessToken
	}
	return Claims{UserID: c.Subject, Role: c.Role, Email: c.Email, Family: c.Family, ExpiresAt: c.ExpiresAt.Time}, nil
}

func (s *Service) newParser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(verifyLeeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
}

// Refresh tokens: the client holds 32 random bytes in unpadded base64url; the store keeps
// the hex SHA-256 of those bytes.

const refreshSecretLen = 32

// newRefreshSecret returns a new secret for the client and the id the store keeps.
func newRefreshSecret() (secret, id string) {
	b := make([]byte, refreshSecretLen)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b), refreshID(b)
}

// parseRefreshSecret returns the store id of a secret a client sent; false when it is
// not one of ours.
func parseRefreshSecret(secret string) (string, bool) {
	if len(secret) != base64.RawURLEncoding.EncodedLen(refreshSecretLen) {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(b) != refreshSecretLen {
		return "", false
	}
	return refreshID(b), true
}

func refreshID(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUserID returns "u_" and 20 random lower-case base32 characters (100 bits).
func newUserID() string { return "u_" + strings.ToLower(rand.Text()[:20]) }

// newFamily returns a new login session id.
func newFamily() string { return "fam_" + randomHex(16) }
