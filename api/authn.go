package api

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
)

// principal is who makes a request.
type principal struct {
	ID       string          // the user id (the owner of holds and bookings)
	Role     ticketview.Role //
	Operator bool            // the operator token: an admin, and may act for a buyer with X-Buyer-ID
}

func (p *principal) is(roles ...ticketview.Role) bool {
	if p == nil {
		return false
	}
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// userCacheTTL bounds how long a disabled account or a changed role may go unnoticed by
// a gateway that has seen the user recently (access tokens last longer: AccessTTL).
const userCacheTTL = 5 * time.Second

type cachedUser struct {
	user *ticketview.User
	at   time.Time
}

// users caches user records for authentication: one store read per user per
// userCacheTTL at most, whatever the request rate.
type userCache struct {
	mu sync.Mutex
	m  map[string]cachedUser
}

func (uc *userCache) get(id string, now time.Time) (*ticketview.User, bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	c, ok := uc.m[id]
	if !ok || now.Sub(c.at) > userCacheTTL {
		return nil, false
	}
	return c.user, true
}

func (uc *userCache) put(u *ticketview.User, now time.Time) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.m == nil || len(uc.m) > 100_000 {
		uc.m = map[string]cachedUser{} // crude bound; entries are cheap to refetch
	}
	uc.m[u.ID] = cachedUser{user: u, at: now}
}

func (uc *userCache) forget(id string) {
	uc.mu.Lock()
	delete(uc.m, id)
	uc.mu.Unlock()
}

// bearer returns the token of an "Authorization: Bearer" header ("" when absent) and
// whether a header was there at all.
func bearer(c *fiber.Ctx) (string, bool, error) {
	auth := c.Get(fiber.HeaderAuthorization)
	if auth == "" {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(auth, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticketview"`)
		return "", true, ticketview.Errorf(ticketview.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
	}
	return tok, true, nil
}

// authenticate finds who makes the request, when anyone: an access token (JWT) or the
// operator token. A request without credentials goes on anonymous; bad credentials are
// 401 whatever the route.
func (s *Server) authenticate(c *fiber.Ctx) error {
	tok, present, err := bearer(c)
	if err != nil || !present {
		if err == nil && c.Get(HeaderBuyerID) != "" {
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s header is only for the operator token", HeaderBuyerID)
		}
		return err
	}
	if s.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
		p := &principal{ID: "operator", Role: ticketview.RoleAdmin, Operator: true}
		if b := strings.TrimSpace(c.Get(HeaderBuyerID)); b != "" {
			// The operator acts for a buyer: load tests and trusted back-office systems.
			if !printable(b, maxBuyerIDLen) {
				return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s header is not a valid buyer id", HeaderBuyerID)
			}
			p = &principal{ID: b, Role: ticketview.RoleCustomer, Operator: true}
		}
		c.Locals(ctxPrincipal, p)
		return nil
	}
	if c.Get(HeaderBuyerID) != "" {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s header is only for the operator token", HeaderBuyerID)
	}
	if s.cfg.Auth == nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticketview"`)
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "this server takes no access tokens")
	}
	claims, err := s.cfg.Auth.Verify(tok)
	if err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticketview", error="invalid_token"`)
		return err
	}
	u, err := s.currentUser(c.UserContext(), claims.UserID)
	if err != nil {
		return err
	}
	if u.Disabled {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "account disabled")
	}
	c.Locals(ctxPrincipal, &principal{ID: u.ID, Role: u.Role})
	return nil
}

// currentUser reads the user behind a valid token (cached briefly): the role in force
// and whether the account is disabled come from the store, not from the token.
func (s *Server) currentUser(ctx context.Context, id string) (*ticketview.User, error) {
	now := time.Now()
	if u, ok := s.userCache.get(id, now); ok {
		return u, nil
	}
	if s.cfg.Users == nil {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "no user store")
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	u, err := s.cfg.Users.FindUser(ctx, id)
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return nil, ticketview.Errorf(ticketview.EUNAUTHORIZED, "the account of this token no longer exists")
	} else if err != nil {
		return nil, err
	}
	s.userCache.put(u, now)
	return u, nil
}

// authn runs authenticate as a middleware.
func (s *Server) authn(c *fiber.Ctx) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	return c.Next()
}

func principalOf(c *fiber.Ctx) *principal {
	p, _ := c.Locals(ctxPrincipal).(*principal)
	return p
}

// access is who may call a route.
type access int

const (
	public     access = iota // anyone
	signedIn                 // any account
	customers                // customers (and the operator acting for a buyer)
	organizers               // organizers (their own events) and admins
	admins                   // admins and the operator
)

func (a access) String() string {
	return [...]string{"public", "signed-in", "customer", "organizer", "admin"}[a]
}

// roles returns the middleware that lets only the access level's roles through.
func (s *Server) roles(a access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := principalOf(c)
		if a == public {
			return c.Next()
		}
		if p == nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticketview"`)
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "sign in first: this route needs an access token")
		}
		ok := false
		switch a {
		case signedIn:
			ok = !p.Operator || p.Role == ticketview.RoleCustomer
		case customers:
			ok = p.is(ticketview.RoleCustomer)
		case organizers:
			ok = p.is(ticketview.RoleOrganizer, ticketview.RoleAdmin)
		case admins:
			ok = p.is(ticketview.RoleAdmin)
		}
		if !ok {
			return ticketview.Errorf(ticketview.EFORBIDDEN, "this route is for %s accounts", a)
		}
		if p.Role == ticketview.RoleCustomer {
			c.Locals(ctxBuyer, p.ID)
		}
		return c.Next()
	}
}

// ownEvent checks that the principal may manage the event: its organizer or an admin.
func ownEvent(p *principal, e *ticketview.Event) error {
	if p.is(ticketview.RoleAdmin) || (p.is(ticketview.RoleOrganizer) && e.OrganizerID == p.ID && p.ID != "") {
		return nil
	}
	return ticketview.Errorf(ticketview.EFORBIDDEN, "event %q belongs to another organizer", e.ID)
}
