-- The buyer demographics of a profile (ticketview.User.City and BirthYear), for the
-- organizers' audience reports. '' and 0 when the user has not given them; the domain
-- validates both.
ALTER TABLE users ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN birth_year INTEGER NOT NULL DEFAULT 0;
