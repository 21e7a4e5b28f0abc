package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ticketview/ticketview"
)

var (
	_ ticketview.UserStore    = (*DB)(nil)
	_ ticketview.SessionStore = (*DB)(nil)
)

// Limits of identity links and refresh tokens, which the domain leaves to the stores.
const (
	maxProviderLen = 64
	maxSubjectLen  = 255
	maxTokenIDLen  = 128
	maxUserIDLen   = 64 // as ticketview.User.Validate allows
)

const (
	userCols = `id, email, email_verified, name, phone, role, disabled, password_hash, created_at, updated_at, city, birth_year`

	qUser        = `SELECT ` + userCols + ` FROM users WHERE id = ?`
	qUserByEmail = `SELECT ` + userCols + ` FROM users WHERE email = ?`
	qUserTaken   = `SELECT id, email FROM users WHERE id = ? OR email = ? LIMIT 1`
	qEmailTaken  = `SELECT 1 FROM users WHERE email = ? AND id <> ?`
	qInsUser     = `INSERT INTO users (` + userCols + `, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdUser     = `UPDATE users SET email = ?, email_verified = ?, name = ?, phone = ?, role = ?, disabled = ?,
		password_hash = ?, created_at = ?, updated_at = ?, city = ?, birth_year = ?, search = ? WHERE id = ?`

	qIdentity    = `SELECT provider, subject, user_id, email, created_at FROM identities WHERE provider = ? AND subject = ?`
	qUserExists  = `SELECT 1 FROM users WHERE id = ?`
	qInsIdentity = `INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?)`

	qFamily      = `SELECT user_id, revoked_at IS NOT NULL FROM refresh_families WHERE family = ?`
	qInsFamily   = `INSERT INTO refresh_families (family, user_id) VALUES (?, ?)`
	qTokenExists = `SELECT 1 FROM refresh_tokens WHERE id = ?`
	qInsToken    = `INSERT INTO refresh_tokens (id, family, created_at, expires_at) VALUES (?, ?, ?, ?)`
	qToken       = `SELECT t.family, f.user_id, t.created_at, t.expires_at, t.used_at IS NOT NULL, f.revoked_at IS NOT NULL
		FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family WHERE t.id = ?`
	qUseToken     = `UPDATE refresh_tokens SET used_at = ? WHERE id = ?`
	qRevokeFamily = `UPDATE refresh_families SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`
	qRevokeUser   = `UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`
)

// Times the store keeps in Unix nanoseconds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// storable reports whether the times are zero or fit in Unix nanoseconds (years 1678 to
// 2262).
func storable(ts ...time.Time) bool {
	for _, t := range ts {
		if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
			return false
		}
	}
	return true
}

// nsOrNil is t in Unix nanoseconds, or NULL for the zero time.
func nsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// timeOf is the time of a nullable Unix-nanoseconds column, in UTC (zero for NULL).
func timeOf(ns sql.NullInt64) time.Time {
	if !ns.Valid {
		return time.Time{}
	}
	return time.Unix(0, ns.Int64).UTC()
}

// userArgs are the users columns of u (userCols order, then search).
func userArgs(u *ticketview.User) []any {
	return []any{u.ID, u.Email, u.EmailVerified, u.Name, u.Phone, string(u.Role), u.Disabled, u.PasswordHash,
		nsOrNil(u.CreatedAt), nsOrNil(u.UpdatedAt), u.City, u.BirthYear, strings.ToLower(u.Email + "\n" + u.Name)}
}

type scanner interface{ Scan(dest ...any) error }

// scanUser reads a row of userCols.
func scanUser(row scanner) (*ticketview.User, error) {
	u := new(ticketview.User)
	var role string
	var created, updated sql.NullInt64
	if err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.Phone, &role, &u.Disabled, &u.PasswordHash,
		&created, &updated, &u.City, &u.BirthYear); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt, u.UpdatedAt = ticketview.Role(role), timeOf(created), timeOf(updated)
	return u, nil
}

// checkUser validates a user before it is stored.
func checkUser(u *ticketview.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if !storable(u.CreatedAt, u.UpdatedAt) {
		return ticketview.Errorf(ticketview.EINVALID, "user %q: times must be between the years 1678 and 2262", u.ID)
	}
	return nil
}

// CreateUser validates the user (EINVALID) and stores it. ECONFLICT when its id or its
// email is taken; nothing is stored then. Times are kept as instants to the nanosecond.
func (db *DB) CreateUser(ctx context.Context, u *ticketview.User) error {
	if u == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no user")
	}
	if err := checkUser(u); err != nil {
		return err
	}
	args := userArgs(u)
	id, email := u.ID, u.Email
	return db.do(ctx, "", func(b *batch) error {
		// The committer is the only writer: what it reads here stays true until it writes.
		s, err := b.c.prepared(qUserTaken)
		if err != nil {
			return b.fail(err)
		}
		var takenID, takenEmail string
		switch err := s.QueryRowContext(bg, id, email).Scan(&takenID, &takenEmail); {
		case err == nil && takenID == id:
			return ticketview.Errorf(ticketview.ECONFLICT, "user %q already exists", id)
		case err == nil:
			return ticketview.Errorf(ticketview.ECONFLICT, "email %q is taken", email)
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(err)
		}
		_, err = b.exec("create user "+id, qInsUser, args...)
		return err
	})
}

// FindUser returns the user, or ENOTFOUND.
func (db *DB) FindUser(ctx context.Context, id string) (*ticketview.User, error) {
	return db.findUser(ctx, qUser, id, fmt.Sprintf("user %q", id))
}

// FindUserByEmail returns the user with the address, in any case and with surrounding
// spaces (it is normalised first), or ENOTFOUND.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*ticketview.User, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	return db.findUser(ctx, qUserByEmail, e, fmt.Sprintf("user with email %q", e))
}

func (db *DB) findUser(ctx context.Context, query, key, what string) (*ticketview.User, error) {
	s, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, unavailable("find user", err)
	}
	u, err := scanUser(s.QueryRowContext(ctx, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "%s not found", what)
	} else if err != nil {
		return nil, unavailable("find user", err)
	}
	return u, nil
}

// ListUsers returns one page of the users that pass the filter, ordered by creation time
// then id (a zero creation time first), and how many pass it in all, both read in one
// snapshot. Role matches exactly (an unknown role is EINVALID); Text is a case-insensitive
// substring of the email or the name. Limit defaults to 20 (when 0 or less) and is at
// most 100; a negative offset is 0.
func (db *DB) ListUsers(ctx context.Context, f ticketview.UserFilter) ([]*ticketview.User, int, error) {
	var where []string
	var args []any
	if f.Role != "" {
		if !f.Role.Valid() {
			return nil, 0, ticketview.Errorf(ticketview.EINVALID, "role %q: use customer, organizer or admin", f.Role)
		}
		where = append(where, "role = ?")
		args = append(args, string(f.Role))
	}
	if !validText(f.Text) {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "search text must be UTF-8 without NUL")
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		where = append(where, "instr(search, ?) > 0")
		args = append(args, t)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset := max(f.Offset, 0)

	// Prepared before the transaction: see readStmt. There are 4 shapes of filter.
	countStmt, err := db.readStmt(ctx, `SELECT count(*) FROM users`+cond)
	if err != nil {
		return nil, 0, unavailable("list users", err)
	}
	pageStmt, err := db.readStmt(ctx, `SELECT `+userCols+` FROM users`+cond+` ORDER BY created_at, id LIMIT ? OFFSET ?`)
	if err != nil {
		return nil, 0, unavailable("list users", err)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, unavailable("list users", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.StmtContext(ctx, countStmt).QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, unavailable("list users", err)
	}
	rows, err := tx.StmtContext(ctx, pageStmt).QueryContext(ctx, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, unavailable("list users", err)
	}
	defer rows.Close()
	out := []*ticketview.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, unavailable("list users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable("list users", err)
	}
	return out, total, nil
}

// UpdateUser loads the user, calls fn on it, validates the result and saves it, all in
// one transaction of the committer, so concurrent updates are never lost. If fn fails,
// nothing is saved and its error is returned as is; a missing user is ENOTFOUND (fn is
// not called); an invalid result or a changed id is EINVALID; an email another user has
// is ECONFLICT. fn runs on the committer's goroutine: it must be quick and must not call
// the store.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(*ticketview.User) error) (*ticketview.User, error) {
	if fn == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "no update function")
	}
	var out *ticketview.User
	var panicked any
	err := db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qUser)
		if err != nil {
			return b.fail(err)
		}
		u, err := scanUser(s.QueryRowContext(bg, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id)
		} else if err != nil {
			return b.fail(err)
		}
		if err := callSafely(fn, u, &panicked); err != nil {
			return err
		}
		if u.ID != id {
			return ticketview.Errorf(ticketview.EINVALID, "user %q: the id cannot change", id)
		}
		if err := checkUser(u); err != nil {
			return err
		}
		if s, err = b.c.prepared(qEmailTaken); err != nil {
			return b.fail(err)
		}
		var one int
		switch err := s.QueryRowContext(bg, u.Email, id).Scan(&one); {
		case err == nil:
			return ticketview.Errorf(ticketview.ECONFLICT, "email %q is taken", u.Email)
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(err)
		}
		args := userArgs(u)
		if _, err := b.exec("update user "+id, qUpdUser, append(args[1:], id)...); err != nil {
			return err
		}
		out = u
		return nil
	})
	if panicked != nil {
		panic(panicked) // on the caller's goroutine, not the committer's
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkIdentity checks a link before it is stored.
func checkIdentity(id *ticketview.Identity) error {
	switch {
	case id.Provider == "" || len(id.Provider) > maxProviderLen || !printable(id.Provider):
		return ticketview.Errorf(ticketview.EINVALID, "identity provider must be 1 to %d printable characters", maxProviderLen)
	case id.Subject == "" || len(id.Subject) > maxSubjectLen || !printable(id.Subject):
		return ticketview.Errorf(ticketview.EINVALID, "identity subject must be 1 to %d printable characters", maxSubjectLen)
	case len(id.Email) > ticketview.MaxEmailLen || !printable(id.Email):
		return ticketview.Errorf(ticketview.EINVALID, "identity email must be at most %d printable characters", ticketview.MaxEmailLen)
	case id.UserID == "":
		return ticketview.Errorf(ticketview.EINVALID, "identity needs a user")
	case !storable(id.CreatedAt):
		return ticketview.Errorf(ticketview.EINVALID, "identity: times must be between the years 1678 and 2262")
	}
	return nil
}

// validText reports whether s is valid UTF-8 without NUL: text any store can keep.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// LinkIdentity stores the link of a provider's subject to a user. Linking it to the same
// user again is a no-op (the first link is kept as it was); to another user, ECONFLICT.
// EINVALID for an empty or overlong provider or subject; ENOTFOUND when the user does not
// exist.
func (db *DB) LinkIdentity(ctx context.Context, id ticketview.Identity) error {
	if err := checkIdentity(&id); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qIdentity)
		if err != nil {
			return b.fail(err)
		}
		cur, err := scanIdentity(s.QueryRowContext(bg, id.Provider, id.Subject))
		switch {
		case err == nil && cur.UserID == id.UserID:
			return nil
		case err == nil:
			return ticketview.Errorf(ticketview.ECONFLICT, "%s subject %q is linked to another user", id.Provider, id.Subject)
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(err)
		}
		if !validKey(id.UserID, maxUserIDLen) { // no user has such an id
			return ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id.UserID)
		}
		if s, err = b.c.prepared(qUserExists); err != nil {
			return b.fail(err)
		}
		var one int
		if err := s.QueryRowContext(bg, id.UserID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id.UserID)
		} else if err != nil {
			return b.fail(err)
		}
		_, err = b.exec("link identity", qInsIdentity, id.Provider, id.Subject, id.UserID, id.Email, nsOrNil(id.CreatedAt))
		return err
	})
}

func scanIdentity(row scanner) (*ticketview.Identity, error) {
	id := new(ticketview.Identity)
	var created sql.NullInt64
	if err := row.Scan(&id.Provider, &id.Subject, &id.UserID, &id.Email, &created); err != nil {
		return nil, err
	}
	id.CreatedAt = timeOf(created)
	return id, nil
}

// FindIdentity returns the link of the provider's subject, or ENOTFOUND.
func (db *DB) FindIdentity(ctx context.Context, provider, subject string) (*ticketview.Identity, error) {
	s, err := db.readStmt(ctx, qIdentity)
	if err != nil {
		return nil, unavailable("find identity", err)
	}
	id, err := scanIdentity(s.QueryRowContext(ctx, provider, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no user linked to %q subject %q", provider, subject)
	} else if err != nil {
		return nil, unavailable("find identity", err)
	}
	return id, nil
}

// validKey reports whether s is 1 to max letters, digits, '-' or '_' (a SHA-256 in hex, a
// random family id).
func validKey(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkToken checks a refresh token before it is stored.
func checkToken(t *ticketview.RefreshToken) error {
	switch {
	case !validKey(t.ID, maxTokenIDLen):
		return ticketview.Errorf(ticketview.EINVALID, "refresh token id must be 1 to %d letters, digits, '-' or '_'", maxTokenIDLen)
	case !validKey(t.Family, maxTokenIDLen):
		return ticketview.Errorf(ticketview.EINVALID, "refresh token family must be 1 to %d letters, digits, '-' or '_'", maxTokenIDLen)
	case !validKey(t.UserID, maxUserIDLen):
		return ticketview.Errorf(ticketview.EINVALID, "refresh token needs a user id")
	case t.CreatedAt.IsZero() || !t.ExpiresAt.After(t.CreatedAt) || !storable(t.CreatedAt, t.ExpiresAt):
		return ticketview.Errorf(ticketview.EINVALID, "refresh token needs a creation time and an expiry after it, between the years 1678 and 2262")
	}
	return nil
}

// CreateRefreshToken stores a new token. EINVALID for a malformed token (see checkToken);
// ECONFLICT when its id is taken or its family belongs to another user; EUNAUTHORIZED
// when its family was revoked (a rotation that raced a logout or a reuse), and nothing is
// stored then.
func (db *DB) CreateRefreshToken(ctx context.Context, t ticketview.RefreshToken) error {
	if err := checkToken(&t); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qTokenExists)
		if err != nil {
			return b.fail(err)
		}
		var one int
		switch err := s.QueryRowContext(bg, t.ID).Scan(&one); {
		case err == nil:
			return ticketview.Errorf(ticketview.ECONFLICT, "refresh token already exists")
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(err)
		}
		if s, err = b.c.prepared(qFamily); err != nil {
			return b.fail(err)
		}
		var owner string
		var revoked bool
		switch err := s.QueryRowContext(bg, t.Family).Scan(&owner, &revoked); {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := b.exec("create refresh token", qInsFamily, t.Family, t.UserID); err != nil {
				return err
			}
		case err != nil:
			return b.fail(err)
		case owner != t.UserID:
			return ticketview.Errorf(ticketview.ECONFLICT, "refresh token family belongs to another user")
		case revoked:
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the session was revoked")
		}
		_, err = b.exec("create refresh token", qInsToken, t.ID, t.Family, t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano())
		return err
	})
}

// UseRefreshToken spends the token and returns it (times in UTC), in one transaction of
// the committer: of concurrent uses exactly one wins. EUNAUTHORIZED when the token is
// unknown, its family was revoked, or it expired at now (ExpiresAt not after now; a zero
// now is the store's clock); when it was already spent, its family is revoked as well
// (that revocation is committed even though the call fails).
func (db *DB) UseRefreshToken(ctx context.Context, id string, now time.Time) (ticketview.RefreshToken, error) {
	if now.IsZero() {
		now = time.Now()
	}
	var tok ticketview.RefreshToken
	err := db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qToken)
		if err != nil {
			return b.fail(err)
		}
		var created, expires int64
		var used, revoked bool
		err = s.QueryRowContext(bg, id).Scan(&tok.Family, &tok.UserID, &created, &expires, &used, &revoked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "unknown refresh token")
		case err != nil:
			return b.fail(err)
		case revoked:
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the session was revoked")
		case used:
			// A spent token again: it was stolen, or the thief's copy was used first. The
			// family dies, whichever holds its live token. This write commits with the batch.
			if _, err := b.exec("revoke family", qRevokeFamily, now.UnixNano(), tok.Family); err != nil {
				return err
			}
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "refresh token reused: the session is revoked")
		case !now.Before(time.Unix(0, expires)):
			return ticketview.Errorf(ticketview.EUNAUTHORIZED, "refresh token expired")
		}
		if _, err := b.exec("use refresh token", qUseToken, now.UnixNano(), id); err != nil {
			return err
		}
		tok.ID = id
		tok.CreatedAt, tok.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
		return nil
	})
	if err != nil {
		return ticketview.RefreshToken{}, err
	}
	return tok, nil
}

// RevokeFamily revokes every token of the family, those issued later included. Revoking
// an unknown or revoked family is a no-op; an empty family is EINVALID.
func (db *DB) RevokeFamily(ctx context.Context, family string) error {
	if family == "" {
		return ticketview.Errorf(ticketview.EINVALID, "no refresh token family")
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("revoke family", qRevokeFamily, time.Now().UnixNano(), family)
		return err
	})
}

// RevokeUser revokes every token of the user: every family the user has, with the tokens
// rotations of them issue later. Logins after it start new families and are not
// affected. An empty user id is EINVALID.
func (db *DB) RevokeUser(ctx context.Context, userID string) error {
	if userID == "" {
		return ticketview.Errorf(ticketview.EINVALID, "no user")
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("revoke user", qRevokeUser, time.Now().UnixNano(), userID)
		return err
	})
}
