-- The booking index (ticketview.BookingIndex, bookings.go) lists bookings newest first:
-- by confirmation time, then booking id, event and section, all descending. This index
-- gives an event's bookings in that order by a backward scan, instead of sorting all of
-- the event's bookings for each page. The listing by owner uses bookings_by_owner (0001)
-- and sorts only the owner's few bookings; the listing of every event's bookings at once
-- (no filter, which no route asks for) sorts them all rather than cost every booking's
-- insert another index.
CREATE INDEX bookings_by_event_time ON bookings (event_id, confirmed_at, id, section_id);
