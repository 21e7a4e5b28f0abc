package ticketview

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Role is what an account may do.
type Role string

const (
	RoleCustomer  Role = "customer"  // buys tickets, sees only their own bookings
	RoleOrganizer Role = "organizer" // creates and sells their own events
	RoleAdmin     Role = "admin"     // everything, for every event and user
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleCustomer || r == RoleOrganizer || r == RoleAdmin }

// Limits of account fields.
const (
	MaxEmailLen    = 254
	MaxNameLen     = 128
	MaxPhoneLen    = 32
	MinPasswordLen = 10
	MaxPasswordLen = 256
	MaxCityLen     = 100 // characters
	// A birth year is at most MaxAge and at least MinAge years before now (CheckBirthYear).
	MaxAge = 120
	MinAge = 13
)

// User is an account.
type User struct {
	ID            string `json:"id"`
	Email         string `json:"email"` // normalised: trimmed, lower-case
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	Phone         string `json:"phone,omitempty"`
	// City and BirthYear are optional demographics the buyer gives in their profile, for
	// the organizers' audience reports (AgeBand); "" and 0 when not given.
	City      string `json:"city,omitempty"`
	BirthYear int    `json:"birth_year,omitempty"`
	Role      Role   `json:"role"`
	Disabled  bool   `json:"disabled"`
	// PasswordHash is the slow hash of the password (PHC string form); "" for an account
	// that only logs in with an identity provider. Never serialised.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// NormalizeEmail trims and lower-cases an address and checks its form: one plain
// address, no display name.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" || len(e) > MaxEmailLen {
		return "", Errorf(EINVALID, "email must be 1 to %d characters", MaxEmailLen)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", Errorf(EINVALID, "email %q is not a valid address", s)
	}
	return e, nil
}

// CheckPassword checks a new password's length (in characters).
func CheckPassword(p string) error {
	if n := utf8.RuneCountInString(p); n < MinPasswordLen || len(p) > MaxPasswordLen || !utf8.ValidString(p) {
		return Errorf(EINVALID, "password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// Validate checks a user before it is stored.
func (u *User) Validate() error {
	switch {
	case !validID(u.ID):
		return Errorf(EINVALID, "user id %q: use letters, digits, '-' and '_'", u.ID)
	case !u.Role.Valid():
		return Errorf(EINVALID, "role %q: use customer, organizer or admin", u.Role)
	case utf8.RuneCountInString(u.Name) > MaxNameLen || !utf8.ValidString(u.Name) || hasControl(u.Name):
		return Errorf(EINVALID, "name must be at most %d printable characters", MaxNameLen)
	case len(u.Phone) > MaxPhoneLen || !phoneChars(u.Phone):
		return Errorf(EINVALID, "phone must be at most %d characters: digits, spaces, '+', '-', '(' and ')'", MaxPhoneLen)
	case utf8.RuneCountInString(u.City) > MaxCityLen || !utf8.ValidString(u.City) || hasControl(u.City):
		return Errorf(EINVALID, "city must be at most %d printable characters", MaxCityLen)
	case u.BirthYear < 0 || u.BirthYear > 9999:
		return Errorf(EINVALID, "birth year %d is not a year", u.BirthYear)
	}
	e, err := NormalizeEmail(u.Email)
	if err != nil {
		return err
	}
	if e != u.Email {
		return Errorf(EINVALID, "email %q is not normalised", u.Email)
	}
	return nil
}

// CheckBirthYear checks a birth year a user gives: between MaxAge and MinAge years before
// now's year. (0, not given, is the caller's to allow.)
func CheckBirthYear(year int, now time.Time) error {
	if y := now.Year(); year < y-MaxAge || year > y-MinAge {
		return Errorf(EINVALID, "birth year must be between %d and %d", y-MaxAge, y-MinAge)
	}
	return nil
}

// AgeBand is the user's age band as of now, for audience reports: "under-18", "18-24",
// "25-34", "35-44", "45-54", "55-64" or "65+"; "" when the birth year is not given. The
// age is taken as now's year minus the birth year (the birthday itself is not known).
func (u *User) AgeBand(now time.Time) string {
	if u.BirthYear <= 0 {
		return ""
	}
	switch age := now.Year() - u.BirthYear; {
	case age < 18:
		return "under-18"
	case age < 25:
		return "18-24"
	case age < 35:
		return "25-34"
	case age < 45:
		return "35-44"
	case age < 55:
		return "45-54"
	case age < 65:
		return "55-64"
	default:
		return "65+"
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

func phoneChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == ' ' || c == '+' || c == '-' || c == '(' || c == ')') {
			return false
		}
	}
	return true
}

// Identity links an account to a login at an identity provider (OAuth2).
type Identity struct {
	Provider  string    `json:"provider"` // "google", "facebook"
	Subject   string    `json:"subject"`  // the provider's stable user id
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"` // as the provider gave it when linked
	CreatedAt time.Time `json:"created_at"`
}

// UserFilter selects users in a listing; empty fields match everything.
type UserFilter struct {
	Role   Role
	Text   string // in the email or the name, case-insensitive
	Offset int
	Limit  int // 0 means 20
}

// UserStore keeps accounts and their identity-provider links.
type UserStore interface {
	// CreateUser stores a new user. ECONFLICT when its id or email is taken.
	CreateUser(ctx context.Context, u *User) error
	// FindUser and FindUserByEmail return ENOTFOUND when there is none.
	FindUser(ctx context.Context, id string) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns a page of users ordered by creation, and the number matching.
	ListUsers(ctx context.Context, f UserFilter) ([]*User, int, error)
	// UpdateUser loads the user, calls fn and saves the result atomically (UpdatedAt is
	// set by the caller). ECONFLICT when fn changed the email to a taken one.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// LinkIdentity stores a link. Linking the same (provider, subject) to the same user
	// again is a no-op; to another user, ECONFLICT.
	LinkIdentity(ctx context.Context, id Identity) error
	// FindIdentity returns ENOTFOUND when the provider's subject is not linked.
	FindIdentity(ctx context.Context, provider, subject string) (*Identity, error)
}

// RefreshToken is one use of a login session. Each refresh spends the token and issues
// the next one of the same family; spending a spent token again is a theft signal, and
// revokes the whole family.
type RefreshToken struct {
	ID        string    // the SHA-256 (hex) of the secret the client holds; the secret is never stored
	UserID    string    //
	Family    string    // one per login; every rotation stays in it
	CreatedAt time.Time //
	ExpiresAt time.Time //
}

// SessionStore keeps refresh tokens.
type SessionStore interface {
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// UseRefreshToken spends the token with this id and returns it, atomically: of
	// concurrent uses one wins. EUNAUTHORIZED when it is unknown, expired at now or
	// revoked; when it was already spent, its family is revoked too (and EUNAUTHORIZED).
	UseRefreshToken(ctx context.Context, id string, now time.Time) (RefreshToken, error)
	// RevokeFamily revokes every token of a login (logout).
	RevokeFamily(ctx context.Context, family string) error
	// RevokeUser revokes every token of a user (disabled account, password change).
	RevokeUser(ctx context.Context, userID string) error
}

// BookingFilter selects bookings in a listing; empty fields match everything.
type BookingFilter struct {
	Owner  string
	Event  string
	Offset int
	Limit  int // 0 means 20
}

// EventSales sums an event's sales.
type EventSales struct {
	Event     string `json:"event"`
	Bookings  int    `json:"bookings"`  // confirmed, not cancelled
	Cancelled int    `json:"cancelled"` // bookings cancelled or refunded
	Tickets   int    `json:"tickets"`   // seats and places of the confirmed bookings
	Revenue   int64  `json:"revenue"`   // total of the confirmed bookings, minor units
}

// BookingIndex is the read model of bookings, kept from the section journals (in the
// same transaction as the journal where the store allows): who bought what, for the
// "my bookings" page and sales reports. The section actors stay the truth of a booking.
type BookingIndex interface {
	// ListBookings returns a page of bookings, newest first, and the number matching. The
	// bookings carry no Items: ask the engine for one booking's seats.
	ListBookings(ctx context.Context, f BookingFilter) ([]Booking, int, error)
	// SalesByEvent sums the sales of the events (every event with a sale when nil), in
	// event id order; an event without sales is left out.
	SalesByEvent(ctx context.Context, events []string) ([]EventSales, error)
}
