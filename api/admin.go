package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
)

// UserList is a page of users.
type UserList struct {
	Users  []*ticketview.User `json:"users"`
	Total  int                `json:"total"`
	Offset int                `json:"offset"`
	Limit  int                `json:"limit"`
}

// NewUserRequest is the body of POST /api/v1/admin/users.
type NewUserRequest struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Name     string          `json:"name,omitempty"`
	Phone    string          `json:"phone,omitempty"`
	Role     ticketview.Role `json:"role"`
}

// UserPatch is the body of PATCH /api/v1/admin/users/:user: the fields to change.
// Disabling an account ends its sessions at once; its access tokens stop working within
// seconds.
type UserPatch struct {
	Role     *ticketview.Role `json:"role,omitempty"`
	Disabled *bool            `json:"disabled,omitempty"`
	Name     *string          `json:"name,omitempty"`
}

func (s *Server) users() (ticketview.UserStore, error) {
	if s.cfg.Users == nil {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "accounts are not configured on this server")
	}
	return s.cfg.Users, nil
}

func (s *Server) adminListUsers(c *fiber.Ctx) error {
	us, err := s.users()
	if err != nil {
		return err
	}
	f := ticketview.UserFilter{Role: ticketview.Role(c.Query("role")), Text: strings.TrimSpace(c.Query("q"))}
	if f.Role != "" && !f.Role.Valid() {
		return invalid("role must be customer, organizer or admin")
	}
	if len(f.Text) > 200 {
		return invalid("q is too long")
	}
	if f.Offset, f.Limit, err = pageOf(c); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	list, total, err := us.ListUsers(ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*ticketview.User{}
	}
	return c.JSON(UserList{Users: list, Total: total, Offset: f.Offset, Limit: f.Limit})
}

func (s *Server) adminCreateUser(c *fiber.Ctx) error {
	a, err := s.accounts()
	if err != nil {
		return err
	}
	var r NewUserRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	if r.Role != "" && !r.Role.Valid() {
		return invalid("role must be customer, organizer or admin")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	u, err := a.CreateUser(ctx, auth.Registration{Email: r.Email, Password: r.Password, Name: r.Name, Phone: r.Phone, Role: r.Role})
	if err != nil {
		return err
	}
	c.Location("/api/v1/admin/users/" + u.ID)
	return c.Status(http.StatusCreated).JSON(u)
}

func (s *Server) adminGetUser(c *fiber.Ctx) error {
	us, err := s.users()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	u, err := us.FindUser(ctx, c.Params("user"))
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no user %q", c.Params("user"))
	} else if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) adminPatchUser(c *fiber.Ctx) error {
	us, err := s.users()
	if err != nil {
		return err
	}
	var r UserPatch
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	id := c.Params("user")
	if p := principalOf(c); p.ID == id && ((r.Disabled != nil && *r.Disabled) || (r.Role != nil && *r.Role != ticketview.RoleAdmin)) {
		return ticketview.Errorf(ticketview.ECONFLICT, "admins cannot disable or demote themselves: ask another admin")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	u, err := us.UpdateUser(ctx, id, func(u *ticketview.User) error {
		if r.Role != nil {
			u.Role = *r.Role
		}
		if r.Disabled != nil {
			u.Disabled = *r.Disabled
		}
		if r.Name != nil {
			u.Name = strings.TrimSpace(*r.Name)
		}
		u.UpdatedAt = s.now()
		return u.Validate()
	})
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no user %q", id)
	} else if err != nil {
		return err
	}
	s.userCache.forget(id)
	if u.Disabled && s.cfg.Sessions != nil {
		if err := s.cfg.Sessions.RevokeUser(ctx, id); err != nil {
			return err
		}
	}
	return c.JSON(u)
}

// RevenueReport is the revenue overview: totals per currency, and each event's sales.
type RevenueReport struct {
	Currencies []CurrencyRevenue `json:"currencies"`
	Events     []EventRevenue    `json:"events"`
}

// CurrencyRevenue sums the events sold in one currency.
type CurrencyRevenue struct {
	Currency string `json:"currency"`
	Revenue  int64  `json:"revenue"`
	Bookings int    `json:"bookings"`
	Tickets  int    `json:"tickets"`
	Events   int    `json:"events"`
}

// EventRevenue is one event's sales with what names it.
type EventRevenue struct {
	ticketview.EventSales
	Name        string `json:"name"`
	Currency    string `json:"currency"`
	OrganizerID string `json:"organizer_id,omitempty"`
}

func (s *Server) adminRevenue(c *fiber.Ctx) error {
	idx, err := s.bookingIndex()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	sales, err := idx.SalesByEvent(ctx, nil)
	if err != nil {
		return err
	}
	out := RevenueReport{Currencies: []CurrencyRevenue{}, Events: make([]EventRevenue, 0, len(sales))}
	byCur := map[string]*CurrencyRevenue{}
	for _, es := range sales {
		er := EventRevenue{EventSales: es}
		if e, err := s.cfg.Events.FindEvent(ctx, es.Event); err == nil {
			er.Name, er.Currency, er.OrganizerID = e.Name, e.Currency, e.OrganizerID
		} else if ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
			return err
		}
		out.Events = append(out.Events, er)
		cr := byCur[er.Currency]
		if cr == nil {
			cr = &CurrencyRevenue{Currency: er.Currency}
			byCur[er.Currency] = cr
		}
		cr.Revenue += es.Revenue
		cr.Bookings += es.Bookings
		cr.Tickets += es.Tickets
		cr.Events++
	}
	for _, cr := range byCur {
		out.Currencies = append(out.Currencies, *cr)
	}
	sort.Slice(out.Currencies, func(i, j int) bool { return out.Currencies[i].Currency < out.Currencies[j].Currency })
	return c.JSON(out)
}
