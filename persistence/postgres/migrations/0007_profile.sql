-- TicketView on PostgreSQL, schema version 7: the buyer demographics of a profile
-- (ticketview.User.City and BirthYear), for the organizers' audience reports.

-- '' and 0 when the user has not given them. The domain validates both (at most 100
-- characters; a year between 120 and 13 years before the profile's update).
ALTER TABLE users
	ADD COLUMN city       text    NOT NULL DEFAULT '',
	ADD COLUMN birth_year integer NOT NULL DEFAULT 0 CHECK (birth_year BETWEEN 0 AND 9999);
