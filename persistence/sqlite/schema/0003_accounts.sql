-- Accounts (ticketview.UserStore), refresh tokens (ticketview.SessionStore), and the
-- event columns the catalog filters on. Times are Unix nanoseconds; NULL is the zero time.

-- Users. email is normalised by the domain (trimmed, lower-case), so its unique
-- constraint makes one account per address whatever case it is given in.
CREATE TABLE users (
	id             TEXT    PRIMARY KEY,
	email          TEXT    NOT NULL UNIQUE,
	email_verified INTEGER NOT NULL DEFAULT 0,
	name           TEXT    NOT NULL DEFAULT '',
	phone          TEXT    NOT NULL DEFAULT '',
	role           TEXT    NOT NULL,
	disabled       INTEGER NOT NULL DEFAULT 0,
	password_hash  TEXT    NOT NULL DEFAULT '', -- PHC string; '' for identity-provider logins
	created_at     INTEGER,                     -- listing order
	updated_at     INTEGER,
	search         TEXT    NOT NULL             -- lower-cased email and name, for UserFilter.Text
);
CREATE INDEX users_by_created ON users (created_at, id);
CREATE INDEX users_by_role ON users (role, created_at, id);

-- Links to identity-provider logins: one user per (provider, subject).
CREATE TABLE identities (
	provider   TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email      TEXT    NOT NULL DEFAULT '',
	created_at INTEGER,
	PRIMARY KEY (provider, subject)
) WITHOUT ROWID;
CREATE INDEX identities_by_user ON identities (user_id);

-- Refresh-token families, one per login. Revocation (logout, reuse of a spent token,
-- RevokeUser) marks the family: every token of it, issued before or after, is dead.
CREATE TABLE refresh_families (
	family     TEXT    PRIMARY KEY,
	user_id    TEXT    NOT NULL,
	revoked_at INTEGER          -- NULL: live
) WITHOUT ROWID;
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

-- Refresh tokens, by the SHA-256 of their secret.
CREATE TABLE refresh_tokens (
	id         TEXT    PRIMARY KEY,
	family     TEXT    NOT NULL REFERENCES refresh_families (family) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER          -- NULL: not spent yet
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

-- Events: what ListEvents filters on besides the JSON. city is lower-cased for the
-- case-insensitive filter. Events stored before this version have the fields in their
-- JSON only; the backfill lower-cases their city with SQLite's lower(), which folds
-- ASCII letters only (the store folds new ones with Go's strings.ToLower).
ALTER TABLE events ADD COLUMN genre TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN organizer TEXT NOT NULL DEFAULT '';
UPDATE events SET
	genre = coalesce(json_extract(data, '$.genre'), ''),
	city = lower(coalesce(json_extract(data, '$.city'), '')),
	organizer = coalesce(json_extract(data, '$.organizer_id'), '');
CREATE INDEX events_by_genre ON events (genre, starts_at, id);
CREATE INDEX events_by_city ON events (city, starts_at, id);
CREATE INDEX events_by_organizer ON events (organizer, starts_at, id);
