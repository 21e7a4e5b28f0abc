// Package gateway wires the gateway side of the HTTP API — accounts, OAuth2, limits,
// CAPTCHA and live seat maps — from settings shared by cmd/node (which serves the API
// itself) and cmd/gateway. It only wires: the parts live in api/auth, api/abuse and
// api/live.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/api/live"
	"github.com/ticketview/ticketview/internal/cli"
)

// Settings are the gateway flags.
type Settings struct {
	JWTSecret      string // HS256 key (at least 32 bytes); embedded default: made once and kept in the data directory
	AdminEmail     string // bootstrap: an admin account created at start when no account has this email
	AdminPassword  string
	PublicURL      string // where browsers reach the API (OAuth2 callbacks), e.g. https://tickets.example.com
	GoogleID       string
	GoogleSecret   string
	FacebookID     string
	FacebookSecret string
	Limits         api.Limits
	Captcha        string // pow (default), hcaptcha, recaptcha, turnstile, off
	CaptchaSite    string
	CaptchaSecret  string
	CaptchaBits    int
	Origins        string // WebSocket origins allowed (comma-separated; "*" for any; empty: same host)
	TrustProxy     bool
	// Providers are OAuth2 providers beyond the flags' (tests: a provider they started).
	Providers []auth.Provider

	limitsFlag *string
}

// DefaultSettings are the defaults before flags and environment.
func DefaultSettings() Settings {
	return Settings{Limits: api.DefaultLimits(), Captcha: "pow", CaptchaBits: 18, PublicURL: "http://localhost:8080"}
}

// Register adds the flags to fs; secret ones through secrets (call secrets.Resolve after
// parsing).
func (s *Settings) Register(fs *flag.FlagSet, secrets *cli.Secrets) {
	secrets.String(&s.JWTSecret, "jwt-secret", "TICKETVIEW_JWT_SECRET", "key of the access tokens, at least 32 bytes; every gateway of a cluster needs the same (env TICKETVIEW_JWT_SECRET)")
	fs.StringVar(&s.AdminEmail, "admin-email", cli.EnvOr("TICKETVIEW_ADMIN_EMAIL", s.AdminEmail), "create this admin account at start if missing (env TICKETVIEW_ADMIN_EMAIL)")
	secrets.String(&s.AdminPassword, "admin-password", "TICKETVIEW_ADMIN_PASSWORD", "password of -admin-email (env TICKETVIEW_ADMIN_PASSWORD)")
	fs.StringVar(&s.PublicURL, "public-url", cli.EnvOr("TICKETVIEW_PUBLIC_URL", s.PublicURL), "URL browsers reach the API at, for OAuth2 callbacks (env TICKETVIEW_PUBLIC_URL)")
	fs.StringVar(&s.GoogleID, "google-client-id", cli.EnvOr("TICKETVIEW_GOOGLE_CLIENT_ID", s.GoogleID), "Google OAuth2 client id (env TICKETVIEW_GOOGLE_CLIENT_ID)")
	secrets.String(&s.GoogleSecret, "google-client-secret", "TICKETVIEW_GOOGLE_CLIENT_SECRET", "Google OAuth2 client secret (env TICKETVIEW_GOOGLE_CLIENT_SECRET)")
	fs.StringVar(&s.FacebookID, "facebook-client-id", cli.EnvOr("TICKETVIEW_FACEBOOK_CLIENT_ID", s.FacebookID), "Facebook OAuth2 app id (env TICKETVIEW_FACEBOOK_CLIENT_ID)")
	secrets.String(&s.FacebookSecret, "facebook-client-secret", "TICKETVIEW_FACEBOOK_CLIENT_SECRET", "Facebook OAuth2 app secret (env TICKETVIEW_FACEBOOK_CLIENT_SECRET)")
	limits := fs.String("limits", cli.EnvOr("TICKETVIEW_LIMITS", formatLimits(s.Limits)),
		"per-user and per-IP limits: user-rps=N,ip-rps=N,holds-in-flight=N,seats-per-ip=N,logins=N (0 turns one off; \"off\" all) (env TICKETVIEW_LIMITS)")
	fs.StringVar(&s.Captcha, "captcha", cli.EnvOr("TICKETVIEW_CAPTCHA", s.Captcha), "CAPTCHA on suspicious patterns: pow, hcaptcha, recaptcha, turnstile or off (env TICKETVIEW_CAPTCHA)")
	fs.StringVar(&s.CaptchaSite, "captcha-site-key", cli.EnvOr("TICKETVIEW_CAPTCHA_SITE_KEY", s.CaptchaSite), "site key of the CAPTCHA widget (env TICKETVIEW_CAPTCHA_SITE_KEY)")
	secrets.String(&s.CaptchaSecret, "captcha-secret", "TICKETVIEW_CAPTCHA_SECRET", "secret of the CAPTCHA provider (env TICKETVIEW_CAPTCHA_SECRET)")
	fs.IntVar(&s.CaptchaBits, "captcha-difficulty", s.CaptchaBits, "proof-of-work difficulty in leading zero bits")
	fs.StringVar(&s.Origins, "ws-origins", cli.EnvOr("TICKETVIEW_WS_ORIGINS", s.Origins), "origins allowed to open live seat maps, comma-separated; * for any (env TICKETVIEW_WS_ORIGINS)")
	fs.BoolVar(&s.TrustProxy, "trust-proxy", s.TrustProxy, "take the client IP from X-Forwarded-For (behind a load balancer)")
	s.limitsFlag = limits
}

// ParseLimits reads the -limits value.
func ParseLimits(v string) (api.Limits, error) {
	l := api.DefaultLimits()
	v = strings.TrimSpace(v)
	if v == "off" {
		return api.Limits{SeatsWindow: l.SeatsWindow}, nil
	}
	for _, kv := range cli.SplitList(v) {
		k, val, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if !ok || err != nil || n < 0 {
			return l, fmt.Errorf("-limits %q: want name=N with N >= 0", kv)
		}
		switch strings.TrimSpace(k) {
		case "user-rps":
			l.UserRPS = n
		case "ip-rps":
			l.IPRPS = n
		case "holds-in-flight":
			l.HoldsInFlight = n
		case "seats-per-ip":
			l.SeatsPerEventIP = n
		case "logins":
			l.LoginsPerMinute = n
		default:
			return l, fmt.Errorf("-limits: unknown limit %q (user-rps, ip-rps, holds-in-flight, seats-per-ip, logins)", k)
		}
	}
	return l, nil
}

func formatLimits(l api.Limits) string {
	return fmt.Sprintf("user-rps=%d,ip-rps=%d,holds-in-flight=%d,seats-per-ip=%d,logins=%d",
		l.UserRPS, l.IPRPS, l.HoldsInFlight, l.SeatsPerEventIP, l.LoginsPerMinute)
}

// Validate checks the settings after parsing. clustered: several gateways must share
// the token key, so it cannot be made locally.
func (s *Settings) Validate(clustered bool) error {
	if s.limitsFlag != nil {
		l, err := ParseLimits(*s.limitsFlag)
		if err != nil {
			return err
		}
		s.Limits = l
	}
	if s.JWTSecret != "" && len(s.JWTSecret) < 32 {
		return errors.New("-jwt-secret must be at least 32 bytes")
	}
	if clustered && s.JWTSecret == "" {
		return errors.New("-jwt-secret is required in cluster mode: every gateway must verify the others' tokens")
	}
	if (s.AdminEmail == "") != (s.AdminPassword == "") {
		return errors.New("-admin-email and -admin-password go together")
	}
	if (s.GoogleID == "") != (s.GoogleSecret == "") || (s.FacebookID == "") != (s.FacebookSecret == "") {
		return errors.New("an OAuth2 provider needs both its client id and its secret")
	}
	switch s.Captcha {
	case "pow", "off":
	case "hcaptcha", "recaptcha", "turnstile":
		if s.CaptchaSite == "" || s.CaptchaSecret == "" {
			return fmt.Errorf("-captcha %s needs -captcha-site-key and -captcha-secret", s.Captcha)
		}
	default:
		return fmt.Errorf("-captcha %q: want pow, hcaptcha, recaptcha, turnstile or off", s.Captcha)
	}
	if s.CaptchaBits < 1 || s.CaptchaBits > 32 {
		return errors.New("-captcha-difficulty must be between 1 and 32")
	}
	return nil
}

// Deps are what the gateway side is built on.
type Deps struct {
	Users    ticketview.UserStore
	Sessions ticketview.SessionStore
	Counter  ticketview.RateCounter // Redis in production, in-memory embedded
	Feed     ticketview.DeltaFeed   // where the sections' deltas arrive
	Bookings ticketview.BookingService
	Events   ticketview.EventStore
	Venues   ticketview.VenueStore
	DataDir  string // embedded: where a made token key is kept ("" : none)
	Logger   *zap.Logger
	Now      func() time.Time
}

// Built is the gateway side, to put into api.Config; Close stops what it started.
type Built struct {
	Auth    *auth.Service
	Limiter *abuse.Limiter
	Guard   *abuse.Guard
	Live    *live.Hub
}

// Apply sets the built parts into cfg.
func (b *Built) Apply(cfg *api.Config, d Deps, s Settings) {
	cfg.Auth, cfg.Users, cfg.Sessions = b.Auth, d.Users, d.Sessions
	cfg.Limiter, cfg.Limits, cfg.Guard, cfg.Live = b.Limiter, s.Limits, b.Guard, b.Live
	cfg.TrustProxy = s.TrustProxy
}

// Close stops the live hub.
func (b *Built) Close() {
	if b.Live != nil {
		b.Live.Close()
	}
}

// Build makes the gateway side.
func Build(ctx context.Context, s Settings, d Deps) (*Built, error) {
	secret, err := tokenKey(s.JWTSecret, d.DataDir)
	if err != nil {
		return nil, err
	}
	var providers []auth.Provider
	base := strings.TrimRight(s.PublicURL, "/")
	if s.GoogleID != "" {
		providers = append(providers, auth.Google(s.GoogleID, s.GoogleSecret, base+"/api/v1/auth/oauth/google/callback"))
	}
	if s.FacebookID != "" {
		providers = append(providers, auth.Facebook(s.FacebookID, s.FacebookSecret, base+"/api/v1/auth/oauth/facebook/callback"))
	}
	providers = append(providers, s.Providers...)
	a, err := auth.New(auth.Config{Users: d.Users, Sessions: d.Sessions, Secret: secret, Providers: providers, Now: d.Now})
	if err != nil {
		return nil, err
	}
	b := &Built{Auth: a, Limiter: abuse.NewLimiter(d.Counter, "limit:")}
	if s.AdminEmail != "" {
		if err := bootstrapAdmin(ctx, a, d.Users, s.AdminEmail, s.AdminPassword); err != nil {
			return nil, err
		}
	}
	var v abuse.Verifier
	switch s.Captcha {
	case "pow":
		k := sha256.Sum256(append([]byte("ticketview captcha:"), secret...))
		pow := abuse.NewProofOfWork(k[:], s.CaptchaBits, 5*time.Minute, d.Counter, d.Now)
		if err := pow.Validate(); err != nil {
			return nil, fmt.Errorf("-captcha pow: %w", err)
		}
		v = pow
	case "hcaptcha", "recaptcha", "turnstile":
		sv, err := abuse.NewSiteVerify(s.Captcha, s.CaptchaSite, s.CaptchaSecret, nil)
		if err != nil {
			return nil, err
		}
		v = sv
	}
	if v != nil {
		b.Guard = abuse.NewGuard(d.Counter, "guard:", v, abuse.Thresholds{})
	}
	if d.Feed != nil {
		b.Live = live.NewHub(live.Config{
			Feed: d.Feed,
			Source: func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
				return d.Bookings.Availability(ctx, id, true)
			},
			Sections: func(ctx context.Context, event string) ([]string, error) {
				e, err := d.Events.FindEvent(ctx, event)
				if err != nil {
					return nil, err
				}
				v, err := d.Venues.FindVenue(ctx, e.VenueID)
				if err != nil {
					return nil, err
				}
				ids := make([]string, len(v.Sections))
				for i, l := range v.Sections {
					ids[i] = l.ID
				}
				return ids, nil
			},
			Logger:         d.Logger.Named("live"),
			AllowedOrigins: cli.SplitList(s.Origins),
		})
	}
	return b, nil
}

// tokenKey is the configured key, or (embedded) one made once and kept in the data
// directory so that tokens outlive a restart.
func tokenKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	if dataDir == "" {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	}
	path := filepath.Join(dataDir, "jwt.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("%s: not a hex key of 32 bytes or more", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keeping the token key: %w", err)
	}
	return k, nil
}

// bootstrapAdmin creates the first admin account, or makes an existing account of that
// email an admin.
func bootstrapAdmin(ctx context.Context, a *auth.Service, users ticketview.UserStore, email, password string) error {
	e, err := ticketview.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("-admin-email: %w", err)
	}
	u, err := users.FindUserByEmail(ctx, e)
	switch {
	case err == nil && u.Role == ticketview.RoleAdmin:
		return nil
	case err == nil:
		_, err = users.UpdateUser(ctx, u.ID, func(u *ticketview.User) error { u.Role = ticketview.RoleAdmin; return nil })
		return err
	case ticketview.ErrorCode(err) == ticketview.ENOTFOUND:
		_, err = a.CreateUser(ctx, auth.Registration{Email: e, Password: password, Name: "Administrator", Role: ticketview.RoleAdmin})
		if ticketview.ErrorCode(err) == ticketview.ECONFLICT {
			return nil // another process made it meanwhile
		}
		return err
	default:
		return err
	}
}
