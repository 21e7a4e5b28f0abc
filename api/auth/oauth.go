package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"

	"github.com/ticketview/ticketview"
)

// Provider names the service knows how to read profiles from.
const (
	ProviderGoogle   = "google"
	ProviderFacebook = "facebook"
)

// OAuthCookieName is the cookie that carries OAuthBegin's value to OAuthComplete. Set it
// HttpOnly, Secure, SameSite=Lax (the provider's redirect back is a top-level cross-site
// GET) with a Max-Age of OAuthCookieTTL, and clear it on completion.
const OAuthCookieName = "tv_oauth"

// OAuthCookieTTL is how long a sign-in started with OAuthBegin may take.
const OAuthCookieTTL = 10 * time.Minute

// Provider is an OAuth2 identity provider. Name selects how its profile is read:
// "google" (OpenID Connect userinfo: sub, email, email_verified, name) or "facebook"
// (Graph /me: id, name, email; Facebook only returns confirmed emails).
type Provider struct {
	Name         string // "google", "facebook"
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Endpoint     oauth2.Endpoint // golang.org/x/oauth2
	UserInfoURL  string
	Scopes       []string
}

// Google returns the Google provider: its real endpoints, scopes openid, email and
// profile, and the OpenID Connect userinfo endpoint.
func Google(clientID, clientSecret, redirectURL string) Provider {
	return Provider{
		Name:         ProviderGoogle,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Endpoint:     endpoint(endpoints.Google),
		UserInfoURL:  "https://openidconnect.googleapis.com/v1/userinfo",
		Scopes:       []string{"openid", "email", "profile"},
	}
}

// Facebook returns the Facebook provider: its real endpoints, scopes email and
// public_profile, and the Graph API's /me with id, name and email.
func Facebook(clientID, clientSecret, redirectURL string) Provider {
	return Provider{
		Name:         ProviderFacebook,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Endpoint:     endpoint(endpoints.Facebook),
		UserInfoURL:  "https://graph.facebook.com/me?fields=id,name,email",
		Scopes:       []string{"email", "public_profile"},
	}
}

// endpoint sends the client credentials in the form, as both providers document, instead
// of probing with HTTP Basic first: a refused probe would spend the single-use code.
func endpoint(e oauth2.Endpoint) oauth2.Endpoint {
	e.AuthStyle = oauth2.AuthStyleInParams
	return e
}

func (p Provider) validate() error {
	bad := func(format string, args ...any) error {
		return ticketview.Errorf(ticketview.EINVALID, "auth: provider %q: "+format, append([]any{p.Name}, args...)...)
	}
	if p.Name != ProviderGoogle && p.Name != ProviderFacebook {
		return bad("unsupported: use %q or %q", ProviderGoogle, ProviderFacebook)
	}
	if p.ClientID == "" || p.ClientSecret == "" {
		return bad("needs a client id and a client secret")
	}
	for _, u := range []struct{ what, url string }{
		{"redirect URL", p.RedirectURL}, {"authorization URL", p.Endpoint.AuthURL},
		{"token URL", p.Endpoint.TokenURL}, {"userinfo URL", p.UserInfoURL},
	} {
		pu, err := url.Parse(u.url)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return bad("%s %q is not an absolute http(s) URL", u.what, u.url)
		}
	}
	return nil
}

func (p Provider) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     p.Endpoint,
		RedirectURL:  p.RedirectURL,
		Scopes:       p.Scopes,
	}
}

// ProviderNames returns the configured providers' names, in configuration order.
func (s *Service) ProviderNames() []string { return append([]string(nil), s.names...) }

func (s *Service) provider(name string) (Provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return Provider{}, ticketview.Errorf(ticketview.ENOTFOUND, "no identity provider %q", name)
	}
	return p, nil
}

// oauthFlow is what the cookie carries between OAuthBegin and OAuthComplete.
type oauthFlow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"` // Unix seconds
}

const maxOAuthCookieLen = 1024

// OAuthBegin starts a sign-in with provider: it returns the provider's authorization URL
// to redirect the browser to, and the value of the OAuthCookieName cookie to set. The URL
// carries a random state (32 bytes) and the S256 challenge of a new PKCE verifier; the
// cookie carries the state, the verifier, the provider and an expiry (OAuthCookieTTL),
// signed with a key derived from Config.Secret. ENOTFOUND for an unknown provider.
func (s *Service) OAuthBegin(provider string) (authURL, cookie string, err error) {
	p, err := s.provider(provider)
	if err != nil {
		return "", "", err
	}
	state := make([]byte, 32)
	rand.Read(state)
	f := oauthFlow{
		Provider: p.Name,
		State:    base64.RawURLEncoding.EncodeToString(state),
		Verifier: oauth2.GenerateVerifier(),
		Expires:  s.now().Add(OAuthCookieTTL).Unix(),
	}
	authURL = p.config().AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier))
	return authURL, s.signFlow(f), nil
}

func (s *Service) signFlow(f oauthFlow) string {
	body, _ := json.Marshal(f) // strings and an int: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.flowMAC(payload))
}

func (s *Service) flowMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// openFlow checks the cookie's signature and expiry and returns what it carries.
func (s *Service) openFlow(cookie string) (oauthFlow, bool) {
	if len(cookie) > maxOAuthCookieLen {
		return oauthFlow{}, false
	}
	payload, sig, ok := strings.Cut(cookie, ".")
	if !ok {
		return oauthFlow{}, false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.flowMAC(payload)) {
		return oauthFlow{}, false
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return oauthFlow{}, false
	}
	var f oauthFlow
	if json.Unmarshal(body, &f) != nil || f.State == "" || f.Verifier == "" || !s.now().Before(time.Unix(f.Expires, 0)) {
		return oauthFlow{}, false
	}
	return f, true
}

// OAuthComplete finishes a sign-in with provider, from the code and state of the
// provider's redirect and the OAuthCookieName cookie. It checks the cookie (signature,
// expiry, provider) and that state matches it, exchanges the code with the PKCE verifier,
// reads the profile, and signs in:
//   - the account linked to this provider login, if any;
//   - else, when the provider says the email is verified, the account with that email,
//     which it links (and marks the email verified);
//   - else, when the email is verified, a new customer account (email verified, no
//     password), linked.
//
// Errors: ENOTFOUND for an unknown provider; EUNAUTHORIZED for a bad, forged or expired
// cookie, a state mismatch, a missing code or a code the provider refuses; EFORBIDDEN when
// the email is not verified (an existing account with it is not linked) or the account is
// disabled; EUNAVAILABLE when the provider fails or does not answer.
func (s *Service) OAuthComplete(ctx context.Context, provider, code, state, cookie string) (Tokens, error) {
	p, err := s.provider(provider)
	if err != nil {
		return Tokens{}, err
	}
	f, ok := s.openFlow(cookie)
	if !ok || f.Provider != p.Name || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return Tokens{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s sign-in expired or did not start here: start it again", p.Name)
	}
	if code == "" {
		return Tokens{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "%s returned no authorization code", p.Name)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	tok, err := p.config().Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Tokens{}, providerError(p.Name, err)
	}
	prof, err := s.fetchProfile(ctx, p, tok)
	if err != nil {
		return Tokens{}, err
	}
	u, err := s.accountFor(ctx, p.Name, prof)
	if err != nil {
		return Tokens{}, err
	}
	return s.startSession(ctx, u)
}

// providerError maps a failed exchange or profile call: the provider refusing (4xx but
// 429) is EUNAUTHORIZED, anything else (5xx, 429, network, timeout, nonsense) is
// EUNAVAILABLE.
func providerError(name string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		if c := re.Response.StatusCode; c >= 400 && c < 500 && c != http.StatusTooManyRequests {
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "%s refused the sign-in: start it again", name)
		}
	}
	return ticketview.Errorf(ticketview.EUNAVAILABLE, "%s is not answering: try again later", name)
}

// profile is what a provider tells about its user.
type profile struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

const maxProfileBytes = 1 << 20

func (s *Service) fetchProfile(ctx context.Context, p Provider, tok *oauth2.Token) (profile, error) {
	unavailable := ticketview.Errorf(ticketview.EUNAVAILABLE, "%s is not answering: try again later", p.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.UserInfoURL, nil)
	if err != nil {
		return profile{}, unavailable
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return profile{}, unavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProfileBytes))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return profile{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "%s refused to share the profile: start the sign-in again", p.Name)
	case resp.StatusCode != http.StatusOK || err != nil:
		return profile{}, unavailable
	}
	var prof profile
	switch p.Name {
	case ProviderGoogle:
		var g struct {
			Sub           string   `json:"sub"`
			Email         string   `json:"email"`
			EmailVerified jsonBool `json:"email_verified"`
			Name          string   `json:"name"`
		}
		if err := json.Unmarshal(body, &g); err != nil {
			return profile{}, unavailable
		}
		prof = profile{Subject: g.Sub, Email: g.Email, EmailVerified: bool(g.EmailVerified), Name: g.Name}
	case ProviderFacebook:
		var fb struct {
			ID    string `json:"id"`
			Email string `json:"email"`
			Name  string `json:"name"`
		}
		if err := json.Unmarshal(body, &fb); err != nil {
			return profile{}, unavailable
		}
		// Facebook returns an email only once its owner confirmed it.
		prof = profile{Subject: fb.ID, Email: fb.Email, EmailVerified: fb.Email != "", Name: fb.Name}
	}
	if prof.Subject == "" || len(prof.Subject) > 255 {
		return profile{}, unavailable
	}
	return prof, nil
}

// jsonBool reads a JSON boolean, or the strings "true" and "false" (some Google
// endpoints send those).
type jsonBool bool

func (b *jsonBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

// accountFor finds or makes the account of a provider's user; see OAuthComplete.
func (s *Service) accountFor(ctx context.Context, provider string, prof profile) (*ticketview.User, error) {
	// A few rounds: a concurrent sign-in of the same person may create the account or
	// the link between our look-ups and writes; the next round then finds them.
	var err error
	for range 3 {
		var u *ticketview.User
		u, err = s.tryAccountFor(ctx, provider, prof)
		if err == nil {
			if u.Disabled {
				return nil, errDisabled
			}
			return u, nil
		}
		if ticketview.ErrorCode(err) != ticketview.ECONFLICT {
			return nil, err
		}
	}
	return nil, err
}

func (s *Service) tryAccountFor(ctx context.Context, provider string, prof profile) (*ticketview.User, error) {
	id, err := s.users.FindIdentity(ctx, provider, prof.Subject)
	if err == nil {
		u, err := s.users.FindUser(ctx, id.UserID)
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return nil, ticketview.Errorf(ticketview.EUNAUTHORIZED, "the account linked to this %s login no longer exists", provider)
		}
		return u, err
	} else if ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		return nil, err
	}

	email, emailErr := ticketview.NormalizeEmail(prof.Email)
	if emailErr != nil {
		return nil, ticketview.Errorf(ticketview.EFORBIDDEN, "%s did not share a usable email address: allow it, or register with a password", provider)
	}
	existing, err := s.users.FindUserByEmail(ctx, email)
	if err != nil && ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		return nil, err
	}
	if !prof.EmailVerified {
		if existing != nil {
			return nil, ticketview.Errorf(ticketview.EFORBIDDEN,
				"%s says the email %s is not verified, so it is not linked to the account with that email: verify it at %s, or sign in with your password",
				provider, email, provider)
		}
		return nil, ticketview.Errorf(ticketview.EFORBIDDEN, "%s says the email %s is not verified: verify it at %s first", provider, email, provider)
	}
	now := s.now().UTC()
	u := existing
	if u == nil {
		u = &ticketview.User{
			ID:            newUserID(),
			Email:         email,
			EmailVerified: true,
			Name:          cleanName(prof.Name),
			Role:          ticketview.RoleCustomer,
			CreatedAt:     now,
			UpdatedAt:     now,
		}
		if err := u.Validate(); err != nil {
			return nil, err
		}
		if err := s.users.CreateUser(ctx, u); err != nil {
			return nil, err // ECONFLICT: created meanwhile, the next round links it
		}
	} else if u.Disabled {
		return nil, errDisabled
	}
	if err := s.users.LinkIdentity(ctx, ticketview.Identity{
		Provider: provider, Subject: prof.Subject, UserID: u.ID, Email: email, CreatedAt: now,
	}); err != nil {
		return nil, err // ECONFLICT: linked meanwhile, the next round finds it
	}
	if !u.EmailVerified {
		// The provider vouches for the address now.
		if nu, err := s.users.UpdateUser(ctx, u.ID, func(x *ticketview.User) error {
			if x.Email == email {
				x.EmailVerified = true
				x.UpdatedAt = now
			}
			return nil
		}); err == nil {
			u = nu
		}
	}
	return u, nil
}

// cleanName makes a provider's display name fit the domain's rules: valid UTF-8, no
// control characters, at most MaxNameLen characters.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > ticketview.MaxNameLen {
		s = strings.TrimSpace(string([]rune(s)[:ticketview.MaxNameLen]))
	}
	return s
}
