-- TicketView on PostgreSQL, schema version 2: accounts as the domain has them
-- (ticketview.UserStore), identity-provider links, refresh tokens
-- (ticketview.SessionStore), and the event fields the catalog filters on.
--
-- As in version 1, times the store must give back exactly are kept in Unix nanoseconds
-- (*_ns, NULL for the zero time) beside a timestamptz for people and SQL.

---------------------------------------------------------------------------------------
-- Accounts
---------------------------------------------------------------------------------------

-- The roles are the domain's: customer (was 'buyer'), organizer, admin.
ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET role = 'customer' WHERE role = 'buyer';
ALTER TABLE users
	ALTER COLUMN role SET DEFAULT 'customer',
	ADD CONSTRAINT users_role_check CHECK (role IN ('customer', 'organizer', 'admin')),
	-- '' for an account that only logs in with an identity provider.
	ALTER COLUMN password_hash SET DEFAULT '',
	ALTER COLUMN created_at DROP NOT NULL,
	ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
	ADD COLUMN phone          text    NOT NULL DEFAULT '',
	ADD COLUMN created_at_ns  bigint,                  -- exact creation time: the listing order
	ADD COLUMN updated_at     timestamptz,
	ADD COLUMN updated_at_ns  bigint,
	ADD COLUMN search         text    NOT NULL DEFAULT ''; -- lower-cased email and name, for UserFilter.Text
-- users_email_key (version 1) keeps one account per address, whatever its case. The
-- listings, in creation order (a zero creation time first, as SQLite sorts NULL):
CREATE INDEX users_by_created ON users (created_at_ns NULLS FIRST, id);
CREATE INDEX users_by_role ON users (role, created_at_ns NULLS FIRST, id);

-- Links to identity-provider logins: one user per (provider, subject).
CREATE TABLE identities (
	provider      text COLLATE "C" NOT NULL,
	subject       text COLLATE "C" NOT NULL,
	user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email         text             NOT NULL DEFAULT '', -- as the provider gave it when linked
	created_at    timestamptz,
	created_at_ns bigint,
	PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_by_user ON identities (user_id);

-- Refresh-token families, one per login. Revocation (logout, reuse of a spent token,
-- RevokeUser) marks the family: every token of it, issued before or after, is dead. No
-- foreign key to users: the session store does not depend on the account store.
CREATE TABLE refresh_families (
	family     text COLLATE "C" PRIMARY KEY,
	user_id    text COLLATE "C" NOT NULL,
	revoked_at timestamptz               -- NULL: live
);
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

-- Refresh tokens, by the SHA-256 (hex) of their secret.
CREATE TABLE refresh_tokens (
	id            text COLLATE "C" PRIMARY KEY,
	family        text COLLATE "C" NOT NULL REFERENCES refresh_families (family) ON DELETE CASCADE,
	created_at_ns bigint           NOT NULL,
	expires_at_ns bigint           NOT NULL,
	expires_at    timestamptz      NOT NULL, -- for people, and for purging expired tokens
	used_at       timestamptz,              -- NULL: not spent yet
	CHECK (expires_at_ns > created_at_ns)
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

---------------------------------------------------------------------------------------
-- Events: owner, browsing fields, on-sale window, publication
---------------------------------------------------------------------------------------

ALTER TABLE events
	ADD COLUMN organizer_id    text COLLATE "C" NOT NULL DEFAULT '', -- '' for events loaded by operators
	ADD COLUMN genre           text COLLATE "C" NOT NULL DEFAULT '', -- matched exactly
	ADD COLUMN city            text             NOT NULL DEFAULT '', -- as given
	ADD COLUMN city_key        text COLLATE "C" NOT NULL DEFAULT '', -- city lower-cased by the store, for the filter
	ADD COLUMN sales_start     timestamptz,
	ADD COLUMN sales_start_ns  bigint,
	ADD COLUMN sales_end       timestamptz,
	ADD COLUMN sales_end_ns    bigint,
	ADD COLUMN published_at    timestamptz,
	ADD COLUMN published_at_ns bigint;
CREATE INDEX events_by_organizer ON events (organizer_id, starts_at_ns, id);
CREATE INDEX events_by_genre ON events (genre, starts_at_ns, id);
CREATE INDEX events_by_city ON events (city_key, starts_at_ns, id);
