package postgres

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

// sqlForeignKeyViolation is the SQLSTATE of a reference to a missing row.
const sqlForeignKeyViolation = "23503"

const (
	userCols = `id, email, email_verified, name, phone, role, disabled, password_hash, created_at_ns, updated_at_ns,
		city, birth_year`

	qUser        = `SELECT ` + userCols + ` FROM users WHERE id = $1`
	qUserByEmail = `SELECT ` + userCols + ` FROM users WHERE lower(email) = lower($1)` // users_email_key
	qInsUser     = `INSERT INTO users (` + userCols + `, created_at, updated_at, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	qUpdUser = `UPDATE users SET email = $2, email_verified = $3, name = $4, phone = $5, role = $6, disabled = $7,
		password_hash = $8, created_at_ns = $9, updated_at_ns = $10, city = $11, birth_year = $12,
		created_at = $13, updated_at = $14, search = $15
		WHERE id = $1`

	qIdentity    = `SELECT provider, subject, user_id, email, created_at_ns FROM identities WHERE provider = $1 AND subject = $2`
	qInsIdentity = `INSERT INTO identities (provider, subject, user_id, email, created_at, created_at_ns)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, subject) DO NOTHING`

	qInsFamily = `INSERT INTO refresh_families (family, user_id) VALUES ($1, $2) ON CONFLICT (family) DO NOTHING`
	qFamily    = `SELECT user_id, revoked_at IS NOT NULL FROM refresh_families WHERE family = $1`
	qInsToken  = `INSERT INTO refresh_tokens (id, family, created_at_ns, expires_at_ns, expires_at) VALUES ($1, $2, $3, $4, $5)`
	// The token's row and its family's: uses of a token, and of the tokens of one family,
	// run one after the other and see revocations committed before them. NO KEY UPDATE
	// does not wait for the foreign-key checks of new tokens of the family.
	qToken = `SELECT t.family, f.user_id, t.created_at_ns, t.expires_at_ns, t.used_at IS NOT NULL, f.revoked_at IS NOT NULL
		FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family WHERE t.id = $1
		FOR NO KEY UPDATE OF t, f`
	qUseToken     = `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1`
	qRevokeFamily = `UPDATE refresh_families SET revoked_at = coalesce($2, now()) WHERE family = $1 AND revoked_at IS NULL`
	qRevokeUser   = `UPDATE refresh_families SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`
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
func nsOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

// timeOf is the time of a nullable Unix-nanoseconds column, in UTC (zero for NULL).
func timeOf(ns *int64) time.Time {
	if ns == nil {
		return time.Time{}
	}
	return time.Unix(0, *ns).UTC()
}

// validText reports whether PostgreSQL can take s as text: UTF-8 without NUL.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// validKey reports whether s is 1 to max letters, digits, '-' or '_' (a user id, a
// SHA-256 in hex, a random family id).
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

// userArgs are the columns of qInsUser, and of qUpdUser, for u.
func userArgs(u *ticketview.User) []any {
	return []any{u.ID, u.Email, u.EmailVerified, u.Name, u.Phone, string(u.Role), u.Disabled, u.PasswordHash,
		nsOrNil(u.CreatedAt), nsOrNil(u.UpdatedAt), u.City, int32(u.BirthYear), tsOrNil(u.CreatedAt), tsOrNil(u.UpdatedAt),
		strings.ToLower(u.Email + "\n" + u.Name)}
}

// scanUser reads a row of userCols.
func scanUser(row pgx.Row) (*ticketview.User, error) {
	u := new(ticketview.User)
	var role string
	var created, updated *int64
	var birthYear int32
	if err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.Phone, &role, &u.Disabled, &u.PasswordHash,
		&created, &updated, &u.City, &birthYear); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt, u.UpdatedAt, u.BirthYear = ticketview.Role(role), timeOf(created), timeOf(updated), int(birthYear)
	return u, nil
}

// userConflict turns a unique violation of the users table into ECONFLICT.
func userConflict(err error, u *ticketview.User) error {
	switch {
	case isUnique(err, "users_pkey"):
		return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "user %q already exists", u.ID), cause: err}
	case isUnique(err, "users_email_key"):
		return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "email %q is taken", u.Email), cause: err}
	}
	return nil
}

// CreateUser validates the user (EINVALID) and stores it. ECONFLICT when its id or its
// email (in any case) is taken; nothing is stored then. Times are kept as instants to the
// nanosecond.
func (db *DB) CreateUser(ctx context.Context, u *ticketview.User) error {
	if u == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no user")
	}
	if err := checkUser(u); err != nil {
		return err
	}
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, qInsUser, userArgs(u)...)
	if c := userConflict(err, u); c != nil {
		return c
	}
	return storeErr("create user "+u.ID, err)
}

// FindUser returns the user, or ENOTFOUND.
func (db *DB) FindUser(ctx context.Context, id string) (*ticketview.User, error) {
	if !validKey(id, maxUserIDLen) { // no user has such an id
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id)
	}
	return db.findUser(ctx, qUser, id, "user "+strconv.Quote(id))
}

// FindUserByEmail returns the user with the address, in any case and with surrounding
// spaces (it is normalised first), or ENOTFOUND.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*ticketview.User, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || !validText(e) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "user with email %q not found", e)
	}
	return db.findUser(ctx, qUserByEmail, e, "user with email "+strconv.Quote(e))
}

func (db *DB) findUser(ctx context.Context, query, key, what string) (*ticketview.User, error) {
	if err := db.open(); err != nil {
		return nil, err
	}
	var u *ticketview.User
	err := db.read(ctx, func(conn *pgx.Conn) (err error) {
		u, err = scanUser(conn.QueryRow(ctx, query, key))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "%s not found", what)
	}
	if err != nil {
		return nil, storeErr("find user", err)
	}
	return u, nil
}

// ListUsers returns one page of the users that pass the filter, ordered by creation time
// then id (a zero creation time first), and how many pass it in all, both read in one
// snapshot. Role matches exactly (an unknown role is EINVALID); Text is a case-insensitive
// substring of the email or the name (EINVALID unless UTF-8 without NUL). Limit defaults
// to 20 (when 0 or less) and is at most 100; a negative offset is 0.
func (db *DB) ListUsers(ctx context.Context, f ticketview.UserFilter) ([]*ticketview.User, int, error) {
	if f.Role != "" && !f.Role.Valid() {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "role %q: use customer, organizer or admin", f.Role)
	}
	if !validText(f.Text) {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "search text must be UTF-8 without NUL")
	}
	if err := db.open(); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Role != "" {
		where = append(where, "role = "+arg(string(f.Role)))
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		where = append(where, "strpos(search, "+arg(t)+") > 0")
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
	countArgs := append([]any(nil), args...)
	page := `SELECT ` + userCols + ` FROM users` + cond + ` ORDER BY created_at_ns NULLS FIRST, id LIMIT ` + arg(limit) +
		` OFFSET ` + arg(offset)

	var out []*ticketview.User
	var total int
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []*ticketview.User{}
		var err error
		total, err = readPage(ctx, conn, `SELECT count(*) FROM users`+cond, countArgs, page, args, func(rows pgx.Rows) error {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, 0, storeErr("list users", err)
	}
	return out, total, nil
}

// UpdateUser loads the user and locks its row (SELECT ... FOR UPDATE), calls fn on it,
// validates the result and saves it, all in one transaction: concurrent updates of a user
// run one after the other and none is lost. If fn fails, nothing is saved and its error
// is returned as is; a missing user is ENOTFOUND (fn is not called); an invalid result or
// a changed id is EINVALID; an email another user has is ECONFLICT. fn runs on the
// caller's goroutine while the row is locked: it must be quick.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(*ticketview.User) error) (*ticketview.User, error) {
	if fn == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "no update function")
	}
	if !validKey(id, maxUserIDLen) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	op := "update user " + id
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, storeErr(op, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, storeErr(op, err)
	}
	defer tx.Rollback(context.Background()) // after Commit, a no-op; on a panic of fn, the rollback
	u, err := scanUser(tx.QueryRow(ctx, qUser+` FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id)
	} else if err != nil {
		return nil, storeErr(op, err)
	}
	if err := fn(u); err != nil {
		return nil, err
	}
	if u.ID != id {
		return nil, ticketview.Errorf(ticketview.EINVALID, "user %q: the id cannot change", id)
	}
	if err := checkUser(u); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, qUpdUser, userArgs(u)...); err != nil {
		if c := userConflict(err, u); c != nil {
			return nil, c
		}
		return nil, storeErr(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, storeErr(op, err)
	}
	return u, nil
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

// LinkIdentity stores the link of a provider's subject to a user. Linking it to the same
// user again is a no-op (the first link is kept as it was); to another user, ECONFLICT.
// EINVALID for an empty or overlong provider or subject; ENOTFOUND when the user does not
// exist.
func (db *DB) LinkIdentity(ctx context.Context, id ticketview.Identity) error {
	if err := checkIdentity(&id); err != nil {
		return err
	}
	if !validKey(id.UserID, maxUserIDLen) {
		return ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id.UserID)
	}
	if err := db.open(); err != nil {
		return err
	}
	op := "link identity"
	tag, err := db.pool.Exec(ctx, qInsIdentity, id.Provider, id.Subject, id.UserID, id.Email, tsOrNil(id.CreatedAt),
		nsOrNil(id.CreatedAt))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == sqlForeignKeyViolation {
		return &storeError{te: ticketview.Errorf(ticketview.ENOTFOUND, "user %q not found", id.UserID), cause: err}
	} else if err != nil {
		return storeErr(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Linked already (links are never removed): to whom?
	cur, err := db.FindIdentity(ctx, id.Provider, id.Subject)
	if err != nil {
		return err
	}
	if cur.UserID != id.UserID {
		return ticketview.Errorf(ticketview.ECONFLICT, "%s subject %q is linked to another user", id.Provider, id.Subject)
	}
	return nil
}

// FindIdentity returns the link of the provider's subject, or ENOTFOUND.
func (db *DB) FindIdentity(ctx context.Context, provider, subject string) (*ticketview.Identity, error) {
	notFound := ticketview.Errorf(ticketview.ENOTFOUND, "no user linked to %q subject %q", provider, subject)
	if !validText(provider) || !validText(subject) {
		return nil, notFound
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	id := new(ticketview.Identity)
	err := db.read(ctx, func(conn *pgx.Conn) error {
		var created *int64
		if err := conn.QueryRow(ctx, qIdentity, provider, subject).Scan(&id.Provider, &id.Subject, &id.UserID, &id.Email,
			&created); err != nil {
			return err
		}
		id.CreatedAt = timeOf(created)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, storeErr("find identity", err)
	}
	return id, nil
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

// CreateRefreshToken stores a new token, and its family if it is the first of it, in one
// transaction. EINVALID for a malformed token (see checkToken); ECONFLICT when its id is
// taken or its family belongs to another user; EUNAUTHORIZED when its family was revoked
// (a rotation that raced a logout or a reuse). Nothing is stored when it fails.
func (db *DB) CreateRefreshToken(ctx context.Context, t ticketview.RefreshToken) error {
	if err := checkToken(&t); err != nil {
		return err
	}
	if err := db.open(); err != nil {
		return err
	}
	op := "create refresh token"
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return storeErr(op, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return storeErr(op, err)
	}
	defer tx.Rollback(context.Background())
	b := &pgx.Batch{}
	b.Queue(qInsFamily, t.Family, t.UserID)
	b.Queue(qFamily, t.Family)
	br := tx.SendBatch(ctx, b)
	var owner string
	var revoked bool
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&owner, &revoked)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return storeErr(op, err)
	case owner != t.UserID:
		return ticketview.Errorf(ticketview.ECONFLICT, "refresh token family belongs to another user")
	case revoked:
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the session was revoked")
	}
	if _, err := tx.Exec(ctx, qInsToken, t.ID, t.Family, t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano(), t.ExpiresAt); err != nil {
		if isUnique(err, "refresh_tokens_pkey") {
			return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "refresh token already exists"), cause: err}
		}
		return storeErr(op, err)
	}
	return storeErr(op, tx.Commit(ctx))
}

// UseRefreshToken spends the token and returns it (times in UTC), in one transaction that
// locks the token's row: of concurrent uses exactly one wins. EUNAUTHORIZED when the token
// is unknown, its family was revoked, or it expired at now (ExpiresAt not after now; a
// zero now is the store's clock); when it was already spent, its family is revoked as
// well (that revocation is committed although the call fails).
func (db *DB) UseRefreshToken(ctx context.Context, id string, now time.Time) (ticketview.RefreshToken, error) {
	unknown := ticketview.Errorf(ticketview.EUNAUTHORIZED, "unknown refresh token")
	if !validKey(id, maxTokenIDLen) {
		return ticketview.RefreshToken{}, unknown
	}
	if err := db.open(); err != nil {
		return ticketview.RefreshToken{}, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	op := "use refresh token"
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return ticketview.RefreshToken{}, storeErr(op, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return ticketview.RefreshToken{}, storeErr(op, err)
	}
	defer tx.Rollback(context.Background())
	tok := ticketview.RefreshToken{ID: id}
	var created, expires int64
	var used, revoked bool
	err = tx.QueryRow(ctx, qToken, id).Scan(&tok.Family, &tok.UserID, &created, &expires, &used, &revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ticketview.RefreshToken{}, unknown
	case err != nil:
		return ticketview.RefreshToken{}, storeErr(op, err)
	case revoked:
		return ticketview.RefreshToken{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "the session was revoked")
	case used:
		// A spent token again: it was stolen, or the thief's copy was used first. The family
		// dies, whoever holds its live token.
		if _, err := tx.Exec(ctx, qRevokeFamily, tok.Family, now); err != nil {
			return ticketview.RefreshToken{}, storeErr(op, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return ticketview.RefreshToken{}, storeErr(op, err)
		}
		return ticketview.RefreshToken{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "refresh token reused: the session is revoked")
	case !now.Before(time.Unix(0, expires)):
		return ticketview.RefreshToken{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "refresh token expired")
	}
	if _, err := tx.Exec(ctx, qUseToken, id, now); err != nil {
		return ticketview.RefreshToken{}, storeErr(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ticketview.RefreshToken{}, storeErr(op, err)
	}
	tok.CreatedAt, tok.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return tok, nil
}

// RevokeFamily revokes every token of the family, those issued later included. Revoking
// an unknown or revoked family is a no-op; an empty family is EINVALID.
func (db *DB) RevokeFamily(ctx context.Context, family string) error {
	if family == "" {
		return ticketview.Errorf(ticketview.EINVALID, "no refresh token family")
	}
	if !validKey(family, maxTokenIDLen) { // no such family
		return nil
	}
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, qRevokeFamily, family, nil)
	return storeErr("revoke family", err)
}

// RevokeUser revokes every token of the user: every family the user has, with the tokens
// rotations of them issue later. Logins after it start new families and are not
// affected. An empty user id is EINVALID.
func (db *DB) RevokeUser(ctx context.Context, userID string) error {
	if userID == "" {
		return ticketview.Errorf(ticketview.EINVALID, "no user")
	}
	if !validKey(userID, maxUserIDLen) { // no such user
		return nil
	}
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, qRevokeUser, userID)
	return storeErr("revoke user", err)
}
