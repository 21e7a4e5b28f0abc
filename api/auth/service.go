// Package auth signs people in: argon2id password hashes, short-lived HS256 JWT access
// tokens, rotating refresh tokens with reuse detection, and OAuth2 sign-in with Google
// and Facebook (state and PKCE, the flow's secrets in a signed cookie).
//
// A login makes a session (a refresh-token family). The client holds an access token,
// which Verify checks without a store, and a refresh token, which Refresh spends for a
// new pair: spending a token twice is taken as theft and ends its whole session.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ticketview/ticketview"
)

// Defaults of Config.
const (
	DefaultIssuer     = "ticketview"
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	// MinSecretLen is the shortest Config.Secret New accepts.
	MinSecretLen = 32
)

// Config configures a Service.
type Config struct {
	Users      ticketview.UserStore
	Sessions   ticketview.SessionStore
	Secret     []byte        // HS256 key; at least 32 bytes, else New fails
	Issuer     string        // default "ticketview"
	AccessTTL  time.Duration // default 15m
	RefreshTTL time.Duration // default 30 days
	Hash       HashParams    // zero: DefaultHash
	Providers  []Provider
	HTTPClient *http.Client // for the providers (default: 10s timeout)
	Now        func() time.Time
}

// Service registers and signs in users and keeps their sessions. It is safe for
// concurrent use.
type Service struct {
	users      ticketview.UserStore
	sessions   ticketview.SessionStore
	secret     []byte
	cookieKey  []byte // HMAC key of the OAuth cookie, derived from secret
	issuer     string
	accessTTL  time.Duration
	refreshTTL time.Duration
	hash       HashParams
	providers  map[string]Provider
	names      []string
	client     *http.Client
	now        func() time.Time
	parser     *jwt.Parser

	inflightMu sync.Mutex
	inflight   map[string]struct{} // ids of the refresh tokens being spent by this process

	dummyOnce sync.Once
	dummy     string // a hash of nothing, checked for unknown emails to spend the same time
}

// Tokens are what a successful sign-in returns to the client. User is a copy without
// its PasswordHash.
type Tokens struct {
	AccessToken  string           `json:"access_token"`
	TokenType    string           `json:"token_type"` // "Bearer"
	ExpiresIn    int              `json:"expires_in"` // seconds
	RefreshToken string           `json:"refresh_token"`
	User         *ticketview.User `json:"user"`
}

// Registration is a new account's details.
type Registration struct {
	Email, Password, Name, Phone string
	Role                         ticketview.Role
}

// New checks cfg and returns a Service. EINVALID when a store is missing, the secret is
// shorter than 32 bytes, a TTL is negative, the hash parameters are out of range, or a
// provider is incomplete, unsupported or repeated.
func New(cfg Config) (*Service, error) {
	invalid := func(format string, args ...any) (*Service, error) {
		return nil, ticketview.Errorf(ticketview.EINVALID, "auth: "+format, args...)
	}
	switch {
	case cfg.Users == nil || cfg.Sessions == nil:
		return invalid("a user store and a session store are required")
	case len(cfg.Secret) < MinSecretLen:
		return invalid("the secret must be at least %d bytes", MinSecretLen)
	case cfg.AccessTTL < 0 || cfg.RefreshTTL < 0:
		return invalid("token lifetimes must be positive")
	}
	s := &Service{
		users:      cfg.Users,
		sessions:   cfg.Sessions,
		secret:     append([]byte(nil), cfg.Secret...),
		issuer:     cfg.Issuer,
		accessTTL:  cfg.AccessTTL,
		refreshTTL: cfg.RefreshTTL,
		hash:       cfg.Hash,
		providers:  map[string]Provider{},
		inflight:   map[string]struct{}{},
		client:     cfg.HTTPClient,
		now:        cfg.Now,
	}
	if s.issuer == "" {
		s.issuer = DefaultIssuer
	}
	if s.accessTTL == 0 {
		s.accessTTL = DefaultAccessTTL
	}
	if s.refreshTTL == 0 {
		s.refreshTTL = DefaultRefreshTTL
	}
	if s.hash == (HashParams{}) {
		s.hash = DefaultHash
	}
	if err := s.hash.validate(); err != nil {
		return nil, err
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte("ticketview auth: oauth cookie key v1"))
	s.cookieKey = mac.Sum(nil)
	for _, p := range cfg.Providers {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := s.providers[p.Name]; dup {
			return invalid("provider %q is configured twice", p.Name)
		}
		p.Scopes = append([]string(nil), p.Scopes...)
		s.providers[p.Name] = p
		s.names = append(s.names, p.Name)
	}
	s.parser = s.newParser()
	return s, nil
}

var errBadLogin = ticketview.Errorf(ticketview.EUNAUTHORIZED, "invalid email or password")

// Register signs up a customer (r.Role is ignored: only admins make other roles, with
// CreateUser) and signs them in. EINVALID for a bad email, password (see
// ticketview.CheckPassword), name or phone; ECONFLICT "email already registered".
func (s *Service) Register(ctx context.Context, r Registration) (Tokens, error) {
	r.Role = ticketview.RoleCustomer
	u, err := s.createUser(ctx, r)
	if err != nil {
		return Tokens{}, err
	}
	return s.startSession(ctx, u)
}

// CreateUser makes an account with a password and any role (empty: customer), for
// admins; it signs nobody in. Errors as Register's, and EINVALID for an unknown role. The
// returned user's PasswordHash is left empty.
func (s *Service) CreateUser(ctx context.Context, r Registration) (*ticketview.User, error) {
	if r.Role == "" {
		r.Role = ticketview.RoleCustomer
	}
	u, err := s.createUser(ctx, r)
	if err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	return u, nil
}

func (s *Service) createUser(ctx context.Context, r Registration) (*ticketview.User, error) {
	email, err := ticketview.NormalizeEmail(r.Email)
	if err != nil {
		return nil, err
	}
	if err := ticketview.CheckPassword(r.Password); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &ticketview.User{
		ID:        newUserID(),
		Email:     email,
		Name:      strings.TrimSpace(r.Name),
		Phone:     strings.TrimSpace(r.Phone),
		Role:      r.Role,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	// Fail fast on a taken email before spending the hashing time; CreateUser below
	// still catches a race.
	if _, err := s.users.FindUserByEmail(ctx, email); err == nil {
		return nil, errEmailTaken
	} else if ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		return nil, err
	}
	if u.PasswordHash, err = HashPassword(s.hash, r.Password); err != nil {
		return nil, err
	}
	if err := s.users.CreateUser(ctx, u); err != nil {
		if ticketview.ErrorCode(err) == ticketview.ECONFLICT {
			return nil, errEmailTaken
		}
		return nil, err
	}
	return u, nil
}

var errEmailTaken = ticketview.Errorf(ticketview.ECONFLICT, "email already registered")

// Login checks an email and password and starts a session. Unknown email, wrong password
// and an account without a password (it signs in with a provider) are the same
// EUNAUTHORIZED error and take the same hashing time; a disabled account is EFORBIDDEN
// "account disabled" (told only to whoever knows its password). A hash made with other
// parameters than the service's is upgraded on the way (best effort).
func (s *Service) Login(ctx context.Context, email, password string) (Tokens, error) {
	e, err := ticketview.NormalizeEmail(email)
	if err != nil || len(password) > ticketview.MaxPasswordLen {
		s.burnHash(password)
		return Tokens{}, errBadLogin
	}
	u, err := s.users.FindUserByEmail(ctx, e)
	if err != nil {
		if ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
			return Tokens{}, err
		}
		s.burnHash(password)
		return Tokens{}, errBadLogin
	}
	if u.PasswordHash == "" {
		s.burnHash(password)
		return Tokens{}, errBadLogin
	}
	ok, err := CheckPasswordHash(u.PasswordHash, password)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: stored password hash of user %s: %v", u.ID, ticketview.ErrorMessage(err))
	}
	if !ok {
		return Tokens{}, errBadLogin
	}
	if u.Disabled {
		return Tokens{}, errDisabled
	}
	if p, _ := hashParams(u.PasswordHash); p != s.hash {
		s.rehash(ctx, u, password)
	}
	return s.startSession(ctx, u)
}

var errDisabled = ticketview.Errorf(ticketview.EFORBIDDEN, "account disabled")

// burnHash spends the time of a password check, so that an unknown email cannot be told
// from a wrong password by the answer's delay.
func (s *Service) burnHash(password string) {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword(s.hash, randomHex(16))
	})
	CheckPasswordHash(s.dummy, password)
}

// rehash stores the password hashed with the service's current parameters, unless the
// hash changed meanwhile. Failure is harmless: the next login tries again.
func (s *Service) rehash(ctx context.Context, u *ticketview.User, password string) {
	h, err := HashPassword(s.hash, password)
	if err != nil {
		return
	}
	old := u.PasswordHash
	if nu, err := s.users.UpdateUser(ctx, u.ID, func(x *ticketview.User) error {
		if x.PasswordHash != old {
			return ticketview.Errorf(ticketview.ECONFLICT, "password changed meanwhile")
		}
		x.PasswordHash = h
		x.UpdatedAt = s.now().UTC()
		return nil
	}); err == nil {
		*u = *nu
	}
}

// startSession starts a new session (refresh family) for u.
func (s *Service) startSession(ctx context.Context, u *ticketview.User) (Tokens, error) {
	return s.issue(ctx, u, newFamily(), s.now())
}

// issue stores a new refresh token of family and returns it with an access token.
func (s *Service) issue(ctx context.Context, u *ticketview.User, family string, now time.Time) (Tokens, error) {
	secret, id := newRefreshSecret()
	now = now.UTC()
	if err := s.sessions.CreateRefreshToken(ctx, ticketview.RefreshToken{
		ID: id, UserID: u.ID, Family: family, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL),
	}); err != nil {
		return Tokens{}, err
	}
	access, err := s.issueAccess(u, family, now)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: sign access token: %w", err)
	}
	uc := *u
	uc.PasswordHash = ""
	return Tokens{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int(s.accessTTL / time.Second),
		RefreshToken: secret,
		User:         &uc,
	}, nil
}

var errBadRefresh = ticketview.Errorf(ticketview.EUNAUTHORIZED, "invalid or expired refresh token")

// Refresh spends a refresh token and returns a new pair in the same session, the access
// token carrying the user's current role and email; the new refresh token lives
// RefreshTTL from now. EUNAUTHORIZED for a token that is malformed, unknown, expired,
// revoked or already spent (reuse: the store then revokes the whole session, so the newer
// token of that session stops working too). A disabled or deleted user's session is
// revoked: EFORBIDDEN "account disabled" (EUNAUTHORIZED when deleted).
//
// Of concurrent refreshes with one token in this process (two tabs of one browser, a
// retried request), exactly one succeeds and the session goes on: the others are refused
// with EUNAUTHORIZED without reaching the store, so they do not count as a reuse. A
// concurrent use through another process, or any use after the first has finished, does
// reach the store and ends the session.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	id, ok := parseRefreshSecret(strings.TrimSpace(refreshToken))
	if !ok {
		return Tokens{}, errBadRefresh
	}
	if !s.claim(id) {
		return Tokens{}, errBadRefresh
	}
	defer s.release(id)
	now := s.now()
	rt, err := s.sessions.UseRefreshToken(ctx, id, now)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.EUNAUTHORIZED {
			return Tokens{}, errBadRefresh
		}
		return Tokens{}, err
	}
	u, err := s.users.FindUser(ctx, rt.UserID)
	if err != nil {
		if ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
			return Tokens{}, err
		}
		if err := s.sessions.RevokeFamily(ctx, rt.Family); err != nil {
			return Tokens{}, err
		}
		return Tokens{}, errBadRefresh
	}
	if u.Disabled {
		if err := s.sessions.RevokeFamily(ctx, rt.Family); err != nil {
			return Tokens{}, err
		}
		return Tokens{}, errDisabled
	}
	t, err := s.issue(ctx, u, rt.Family, now)
	if ticketview.ErrorCode(err) == ticketview.EUNAUTHORIZED {
		return Tokens{}, errBadRefresh // the session was revoked meanwhile (logout, reuse)
	}
	return t, err
}

// claim marks the refresh token id as being spent by this process; false when it already
// is.
func (s *Service) claim(id string) bool {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	if _, busy := s.inflight[id]; busy {
		return false
	}
	s.inflight[id] = struct{}{}
	return true
}

func (s *Service) release(id string) {
	s.inflightMu.Lock()
	delete(s.inflight, id)
	s.inflightMu.Unlock()
}

// Logout ends the session of refreshToken (its whole family). A malformed, unknown or
// already revoked token is not an error: logging out twice is fine. Store failures are.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	id, ok := parseRefreshSecret(strings.TrimSpace(refreshToken))
	if !ok {
		return nil
	}
	// Spending the token is how the store tells us its family; a spent or revoked token
	// is refused, and a spent one revokes its family, which is what logout wants anyway.
	rt, err := s.sessions.UseRefreshToken(ctx, id, s.now())
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.EUNAUTHORIZED {
			return nil
		}
		return err
	}
	return s.sessions.RevokeFamily(ctx, rt.Family)
}

// ChangePassword replaces the password of user userID after checking current, and ends
// every session of the user (all devices sign in again; issued access tokens run out
// within AccessTTL). ENOTFOUND for an unknown user; EFORBIDDEN when current is wrong, the
// account has no password (it signs in with a provider) or is disabled; EINVALID when
// next breaks the password rules; ECONFLICT when the password changed meanwhile.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) error {
	if err := ticketview.CheckPassword(next); err != nil {
		return err
	}
	u, err := s.users.FindUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.Disabled {
		return errDisabled
	}
	if u.PasswordHash == "" {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "this account has no password: it signs in with an identity provider")
	}
	if len(current) > ticketview.MaxPasswordLen {
		return errWrongPassword
	}
	ok, err := CheckPasswordHash(u.PasswordHash, current)
	if err != nil {
		return fmt.Errorf("auth: stored password hash of user %s: %v", u.ID, ticketview.ErrorMessage(err))
	}
	if !ok {
		return errWrongPassword
	}
	h, err := HashPassword(s.hash, next)
	if err != nil {
		return err
	}
	old := u.PasswordHash
	if _, err := s.users.UpdateUser(ctx, userID, func(x *ticketview.User) error {
		if x.PasswordHash != old {
			return ticketview.Errorf(ticketview.ECONFLICT, "the password was changed meanwhile")
		}
		x.PasswordHash = h
		x.UpdatedAt = s.now().UTC()
		return nil
	}); err != nil {
		return err
	}
	return s.sessions.RevokeUser(ctx, userID)
}

var errWrongPassword = ticketview.Errorf(ticketview.EFORBIDDEN, "current password is wrong")
