package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/api/auth"
)

// RegisterRequest is the body of POST /api/v1/auth/register.
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh and /logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// ProviderList names the OAuth2 providers one may log in with.
type ProviderList struct {
	Providers []string `json:"providers"`
}

// ProfileRequest is the body of PATCH /api/v1/me: the fields to change. City (at most
// 100 characters) and BirthYear (between 120 and 13 years ago) are optional demographics
// for the organizers' audience reports; "" and 0 clear them.
type ProfileRequest struct {
	Name      *string `json:"name,omitempty"`
	Phone     *string `json:"phone,omitempty"`
	City      *string `json:"city,omitempty"`
	BirthYear *int    `json:"birth_year,omitempty"`
}

// apply checks the request's fields and copies them into u.
func (r *ProfileRequest) apply(u *ticketview.User, now time.Time) error {
	if r.Name != nil {
		u.Name = strings.TrimSpace(*r.Name)
	}
	if r.Phone != nil {
		u.Phone = strings.TrimSpace(*r.Phone)
	}
	if r.City != nil {
		u.City = strings.TrimSpace(*r.City)
	}
	if r.BirthYear != nil {
		if *r.BirthYear != 0 {
			if err := ticketview.CheckBirthYear(*r.BirthYear, now); err != nil {
				return err
			}
		}
		u.BirthYear = *r.BirthYear
	}
	return nil
}

// PasswordRequest is the body of POST /api/v1/me/password.
type PasswordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

const maxTokenLen = 4096

func (s *Server) accounts() (*auth.Service, error) {
	if s.cfg.Auth == nil {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "accounts are not configured on this server")
	}
	return s.cfg.Auth, nil
}

func (s *Server) register(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	var r RegisterRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	// Only well-formed sign-ups count towards the CAPTCHA.
	if _, err := ticketview.NormalizeEmail(r.Email); err != nil {
		return err
	}
	if err := ticketview.CheckPassword(r.Password); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	// Many accounts from one address are a bot farm's signature.
	ip := "ip:" + c.IP()
	if err := s.captcha(c, abuse.SignalSignup, ip); err != nil {
		return err
	}
	tok, err := a.Register(ctx, auth.Registration{Email: r.Email, Password: r.Password, Name: r.Name, Phone: r.Phone})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(tok)
}

func (s *Server) login(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	var r LoginRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	if len(r.Email) > ticketview.MaxEmailLen || len(r.Password) > ticketview.MaxPasswordLen {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "wrong email or password")
	}
	// Password guessing: a few tries per address and per account each minute.
	if err := s.limit(c, "login-ip:"+c.IP(), s.cfg.Limits.LoginsPerMinute, time.Minute); err != nil {
		return err
	}
	if err := s.limit(c, "login-email:"+strings.ToLower(strings.TrimSpace(r.Email)), s.cfg.Limits.LoginsPerMinute, time.Minute); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	tok, err := a.Login(ctx, r.Email, r.Password)
	if err != nil {
		return err
	}
	return c.JSON(tok)
}

func decodeRefresh(c *fiber.Ctx) (string, error) {
	var r RefreshRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return "", err
	}
	if r.RefreshToken == "" || len(r.RefreshToken) > maxTokenLen {
		return "", invalid("refresh_token is required")
	}
	return r.RefreshToken, nil
}

func (s *Server) refresh(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	rt, err := decodeRefresh(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	tok, err := a.Refresh(ctx, rt)
	if err != nil {
		return err
	}
	return c.JSON(tok)
}

func (s *Server) logout(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	rt, err := decodeRefresh(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := a.Logout(ctx, rt); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) providers(c *fiber.Ctx) error {
	out := ProviderList{Providers: []string{}}
	if s.cfg.Auth != nil {
		out.Providers = append(out.Providers, s.cfg.Auth.ProviderNames()...)
	}
	return c.JSON(out)
}

// oauthBegin redirects to the provider; the state and the PKCE verifier travel in a
// signed, HTTP-only cookie scoped to the callback.
func (s *Server) oauthBegin(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	provider := c.Params("provider")
	authURL, cookie, err := a.OAuthBegin(provider)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: auth.OAuthCookieName, Value: cookie, Path: "/api/v1/auth/oauth/" + provider,
		MaxAge: 600, HTTPOnly: true, Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteLaxMode,
	})
	return c.Redirect(authURL, http.StatusFound)
}

func (s *Server) oauthCallback(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	provider := c.Params("provider")
	if e := c.Query("error"); e != "" {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the provider refused the login: %.100s", e)
	}
	code, state := c.Query("code"), c.Query("state")
	if code == "" || state == "" || len(code) > maxTokenLen || len(state) > maxTokenLen {
		return invalid("code and state are required")
	}
	cookie := c.Cookies(auth.OAuthCookieName)
	if cookie == "" {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the login was not started here (no %s cookie)", auth.OAuthCookieName)
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	tok, err := a.OAuthComplete(ctx, provider, code, state, cookie)
	// The cookie is single-use either way.
	c.Cookie(&fiber.Cookie{Name: auth.OAuthCookieName, Value: "", Path: "/api/v1/auth/oauth/" + provider, MaxAge: -1, HTTPOnly: true})
	if err != nil {
		return err
	}
	return c.JSON(tok)
}

func (s *Server) getMe(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	u, err := s.me(c)
	if err != nil {
		return err
	}
	fresh, err := s.cfg.Users.FindUser(ctx, u)
	if err != nil {
		return err
	}
	return c.JSON(fresh)
}

// me is the signed-in user's id; the operator has no account.
func (s *Server) me(c *fiber.Ctx) (string, error) {
	p := principalOf(c)
	if p == nil || p.Operator || s.cfg.Users == nil {
		return "", ticketview.Errorf(ticketview.EFORBIDDEN, "the operator token has no account")
	}
	return p.ID, nil
}

func (s *Server) patchMe(c *fiber.Ctx) error {
	id, err := s.me(c)
	if err != nil {
		return err
	}
	var r ProfileRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	u, err := s.cfg.Users.UpdateUser(ctx, id, func(u *ticketview.User) error {
		u.UpdatedAt = s.now()
		if err := r.apply(u, u.UpdatedAt); err != nil {
			return err
		}
		return u.Validate()
	})
	if err != nil {
		return err
	}
	s.userCache.forget(id)
	return c.JSON(u)
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	id, err := s.me(c)
	if err != nil {
		return err
	}
	var r PasswordRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	if err := s.limit(c, "password:"+id, s.cfg.Limits.LoginsPerMinute, time.Minute); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := a.ChangePassword(ctx, id, r.Current, r.New); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
