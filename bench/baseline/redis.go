package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview/bench/load"
)

// redisStore is the "redis" design: a lock key per seat, Lua scripts for best available
// and general admission, bookings also written to PostgreSQL.
//
// Keys, under the prefix P:
//
//	P layout                 the layout (JSON)
//	P seat:{sec}:{label}     a seat's lock: the hold's token (PX ttl), or "sold:<booking>"
//	P free:{sec}             sorted set of the seats that may be free, by rank: best
//	                         available skips (and drops) those whose lock key exists
//	P held:{sec}             sorted set of the seats dropped from free while locked, by
//	                         the lock's expiry: when it is due they go back into free
//	P rank:{sec}             hash label -> rank
//	P ga:{sec}               hash capacity, held, sold (general admission)
//	P gaholds:{sec}          sorted set of live general-admission holds by expiry
//	P gaqty:{sec}            hash token -> quantity of those holds
//	P hold:{token}           hash buyer, section, kind, seats, quantity, expires, state
//	P booking:{id}           hash of the booking
//
// A hold's hash outlives the hold by holdGrace, so that confirming an expired hold is a
// conflict rather than an unknown token.
type redisStore struct {
	rdb    *redis.Client
	pg     *pgxpool.Pool
	schema string
	prefix string
	cat    atomic.Pointer[catalog]
}

// holdGrace is how long a hold's record outlives the hold.
const holdGrace = time.Hour

// mgetChunk is how many seat keys a section read asks for per MGET.
const mgetChunk = 1000

func openRedis(ctx context.Context, cfg Config) (*redisStore, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("baseline redis: the Redis URL: %w", err)
	}
	opt.PoolSize = cfg.Conns
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("baseline redis: connect to Redis: %w", err)
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s := &redisStore{rdb: rdb, pg: pool, schema: cfg.Schema, prefix: cfg.Prefix}
	fail := func(err error) (*redisStore, error) {
		rdb.Close()
		pool.Close()
		return nil, err
	}
	if err := s.ensureBookings(ctx, false); err != nil {
		return fail(err)
	}
	switch doc, err := rdb.Get(ctx, s.prefix+"layout").Bytes(); {
	case err == nil:
		var l load.Layout
		c, err := decodeLayout(doc, &l)
		if err != nil {
			return fail(fmt.Errorf("baseline redis: the stored layout: %w", err))
		}
		s.cat.Store(c)
	case errors.Is(err, redis.Nil):
	default:
		return fail(fmt.Errorf("baseline redis: load the layout: %w", err))
	}
	return s, nil
}

// ensureBookings creates the schema and its bookings table if missing (or, when fresh,
// drops and recreates the table).
func (s *redisStore) ensureBookings(ctx context.Context, fresh bool) error {
	q := schemaReplacer(s.schema)
	if _, err := s.pg.Exec(ctx, q.Replace(`CREATE SCHEMA IF NOT EXISTS {s}`)); err != nil && !isUniqueViolation(err) {
		return fmt.Errorf("baseline redis: create schema: %w", err)
	}
	ddl := `CREATE TABLE IF NOT EXISTS {s}.bookings (
		id          text PRIMARY KEY,
		hold_token  text NOT NULL UNIQUE,
		section     text NOT NULL,
		buyer       text NOT NULL,
		seats       text[] NOT NULL,
		quantity    int NOT NULL,
		payment_ref text NOT NULL DEFAULT '',
		created_at  timestamptz NOT NULL DEFAULT now())`
	if fresh {
		ddl = `DROP TABLE IF EXISTS {s}.bookings; ` + ddl
	}
	if _, err := s.pg.Exec(ctx, q.Replace(ddl)); err != nil && !isUniqueViolation(err) {
		return fmt.Errorf("baseline redis: create the bookings table: %w", err)
	}
	return nil
}

func (s *redisStore) currentLayout() (load.Layout, bool) {
	if c := s.cat.Load(); c != nil {
		return c.layout, true
	}
	return load.Layout{}, false
}

// ---- keys ----

func (s *redisStore) seatPrefix(sec string) string { return s.prefix + "seat:" + sec + ":" }
func (s *redisStore) holdKey(token string) string  { return s.prefix + "hold:" + token }
func (s *redisStore) secKey(kind, sec string) string {
	return s.prefix + kind + ":" + sec
}

// sectionKeys are the section's keys every script takes, in this order: free, held,
// rank, ga, gaholds, gaqty.
func (s *redisStore) sectionKeys(sec string) []string {
	return []string{s.secKey("free", sec), s.secKey("held", sec), s.secKey("rank", sec),
		s.secKey("ga", sec), s.secKey("gaholds", sec), s.secKey("gaqty", sec)}
}

// Setup deletes the prefix's keys (SCAN, not KEYS), recreates the bookings table and
// writes the sections, every place free.
func (s *redisStore) Setup(ctx context.Context, l load.Layout) error {
	c, err := newCatalog(l)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(c.layout)
	if err != nil {
		return err
	}
	if err := s.deletePrefix(ctx); err != nil {
		return err
	}
	if err := s.ensureBookings(ctx, true); err != nil {
		return err
	}
	const chunk = 1000
	for _, sl := range c.layout.Sections {
		pipe := s.rdb.Pipeline()
		if sl.GA {
			pipe.HSet(ctx, s.secKey("ga", sl.ID), "capacity", sl.Capacity, "held", 0, "sold", 0)
		} else {
			sec := c.sections[sl.ID]
			for i := 0; i < len(sec.labels); i += chunk {
				end := min(i+chunk, len(sec.labels))
				members := make([]redis.Z, 0, end-i)
				ranks := make([]any, 0, 2*(end-i))
				for j := i; j < end; j++ {
					members = append(members, redis.Z{Score: float64(sec.rank[j]), Member: sec.labels[j]})
					ranks = append(ranks, sec.labels[j], sec.rank[j])
				}
				pipe.ZAdd(ctx, s.secKey("free", sl.ID), members...)
				pipe.HSet(ctx, s.secKey("rank", sl.ID), ranks...)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("baseline redis: setup section %s: %w", sl.ID, err)
		}
	}
	if err := s.rdb.Set(ctx, s.prefix+"layout", doc, 0).Err(); err != nil {
		return fmt.Errorf("baseline redis: setup: %w", err)
	}
	s.cat.Store(c)
	return nil
}

// deletePrefix deletes every key of the prefix.
func (s *redisStore) deletePrefix(ctx context.Context) error {
	iter := s.rdb.Scan(ctx, 0, globEscape(s.prefix)+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return fmt.Errorf("baseline redis: delete the old keys: %w", err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("baseline redis: scan the old keys: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("baseline redis: delete the old keys: %w", err)
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Hold locks picked seats with SET NX PX, or runs the best-available or general-admission
// script.
func (s *redisStore) Hold(ctx context.Context, buyer, sectionID string, req load.HoldRequest) (load.Hold, error) {
	p, err := s.cat.Load().plan(buyer, sectionID, req)
	if err != nil {
		return load.Hold{}, err
	}
	token := uuid.NewString()
	ttl := p.ttl.Milliseconds()
	var (
		seats   []string
		expires time.Time
	)
	switch p.kind {
	case pickSeats:
		if seats, expires, err = s.holdPicked(ctx, buyer, sectionID, token, p); err != nil {
			return load.Hold{}, err
		}
	case bestAvailable:
		res, err := bestScript.Run(ctx, s.rdb, append(s.sectionKeys(sectionID), s.holdKey(token)),
			s.seatPrefix(sectionID), token, ttl, p.quantity, buyer, sectionID, holdGrace.Milliseconds()).Slice()
		if err != nil {
			return load.Hold{}, s.wrap(err)
		}
		if len(res) < 1+p.quantity {
			return load.Hold{}, conflictf("fewer than %d seats are free in section %q", p.quantity, sectionID)
		}
		expires = time.UnixMilli(res[0].(int64))
		for _, v := range res[1:] {
			seats = append(seats, v.(string))
		}
	case generalAdmission:
		at, err := gaScript.Run(ctx, s.rdb, append(s.sectionKeys(sectionID), s.holdKey(token)),
			token, ttl, p.quantity, buyer, sectionID, holdGrace.Milliseconds()).Int64()
		if err != nil {
			return load.Hold{}, s.wrap(err)
		}
		if at == 0 {
			return load.Hold{}, conflictf("fewer than %d places are left in section %q", p.quantity, sectionID)
		}
		expires = time.UnixMilli(at)
	}
	return load.Hold{Token: token, Owner: buyer, Section: sectionID, Items: items(seats, p.quantity),
		Quantity: p.quantity, ExpiresAt: expires}, nil
}

// holdPicked sets every seat's lock key (NX PX, pipelined); if any is taken, the acquired
// ones are deleted (compare-and-delete) and the hold is a conflict. Then the hold's record
// is written.
func (s *redisStore) holdPicked(ctx context.Context, buyer, sectionID, token string, p holdPlan) ([]string, time.Time, error) {
	expires := time.Now().Add(p.ttl).Truncate(time.Millisecond)
	sp := s.seatPrefix(sectionID)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(p.seats))
	for i, label := range p.seats {
		cmds[i] = pipe.SetNX(ctx, sp+label, token, p.ttl)
	}
	_, err := pipe.Exec(ctx)
	var acquired []string
	for i, cmd := range cmds {
		if ok, cerr := cmd.Result(); cerr == nil && ok {
			acquired = append(acquired, p.seats[i])
		}
	}
	if err != nil || len(acquired) < len(p.seats) {
		if uerr := s.unlock(ctx, sectionID, token, acquired); uerr != nil {
			return nil, time.Time{}, fmt.Errorf("baseline redis: undo a failed pick: %w", uerr)
		}
		if err != nil {
			return nil, time.Time{}, s.wrap(err)
		}
		return nil, time.Time{}, conflictf("some of the seats are taken")
	}
	hk := s.holdKey(token)
	_, err = s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HSet(ctx, hk, "buyer", buyer, "section", sectionID, "kind", "seats", "seats", strings.Join(p.seats, ","),
			"quantity", p.quantity, "expires", expires.UnixMilli(), "state", "held")
		tx.PExpire(ctx, hk, p.ttl+holdGrace)
		return nil
	})
	if err != nil {
		_ = s.unlock(ctx, sectionID, token, acquired)
		return nil, time.Time{}, s.wrap(err)
	}
	return p.seats, expires, nil
}

// unlock deletes the seats' lock keys that hold the token and puts the seats back into
// the free set.
func (s *redisStore) unlock(ctx context.Context, sectionID, token string, seats []string) error {
	if len(seats) == 0 {
		return nil
	}
	args := []any{s.seatPrefix(sectionID), token}
	for _, l := range seats {
		args = append(args, l)
	}
	return unlockScript.Run(ctx, s.rdb, s.sectionKeys(sectionID), args...).Err()
}

// Release deletes the hold's locks iff they hold its token (or gives its general-admission
// places back) and marks the hold released.
func (s *redisStore) Release(ctx context.Context, buyer, sectionID, token string) error {
	if _, err := s.cat.Load().checkHoldRef(buyer, sectionID, token); err != nil {
		return err
	}
	res, err := releaseScript.Run(ctx, s.rdb, append(s.sectionKeys(sectionID), s.holdKey(token)),
		s.seatPrefix(sectionID), token, buyer, sectionID).Text()
	if err != nil {
		return s.wrap(err)
	}
	return scriptOutcome(res)
}

// Confirm turns the hold's locks into sold markers (a script that checks every lock still
// holds the token), then inserts the booking into PostgreSQL before answering.
func (s *redisStore) Confirm(ctx context.Context, buyer, sectionID, token, paymentRef string) (load.Booking, error) {
	if _, err := s.cat.Load().checkHoldRef(buyer, sectionID, token); err != nil {
		return load.Booking{}, err
	}
	if err := checkPaymentRef(paymentRef); err != nil {
		return load.Booking{}, err
	}
	id := uuid.NewString()
	res, err := confirmScript.Run(ctx, s.rdb,
		append(s.sectionKeys(sectionID), s.holdKey(token), s.prefix+"booking:"+id),
		s.seatPrefix(sectionID), token, buyer, sectionID, id, paymentRef).Slice()
	if err != nil {
		return load.Booking{}, s.wrap(err)
	}
	if len(res) != 3 {
		return load.Booking{}, fmt.Errorf("baseline redis: confirm: unexpected answer %v", res)
	}
	outcome, _ := res[0].(string)
	if err := scriptOutcome(outcome); err != nil {
		return load.Booking{}, err
	}
	seatList, _ := res[1].(string)
	quantity, _ := res[2].(int64)
	seats := []string{} // general admission: no seats (the column is NOT NULL)
	if seatList != "" {
		seats = strings.Split(seatList, ",")
	}
	_, err = s.pg.Exec(ctx, schemaReplacer(s.schema).Replace(`INSERT INTO {s}.bookings
			(id, hold_token, section, buyer, seats, quantity, payment_ref)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`), id, token, sectionID, buyer, seats, quantity, paymentRef)
	if err != nil {
		// The seats are sold in Redis, the booking is not recorded: the outcome is
		// uncertain, which a 500 says.
		return load.Booking{}, fmt.Errorf("baseline redis: record the booking in PostgreSQL: %w", err)
	}
	return load.Booking{ID: id, HoldToken: token, Section: sectionID, Items: items(seats, int(quantity)),
		Quantity: int(quantity), Status: "confirmed"}, nil
}

// Section reads every seat's key (MGET in chunks, pipelined), or the general-admission
// counters (after giving expired holds' places back).
func (s *redisStore) Section(ctx context.Context, sectionID string) (load.Availability, error) {
	sec, err := s.cat.Load().section(sectionID)
	if err != nil {
		return load.Availability{}, err
	}
	if sec.GA {
		res, err := gaReadScript.Run(ctx, s.rdb, s.sectionKeys(sectionID)).Int64Slice()
		if err != nil {
			return load.Availability{}, s.wrap(err)
		}
		if len(res) != 3 {
			return load.Availability{}, fmt.Errorf("baseline redis: section %s: unexpected answer %v", sectionID, res)
		}
		a := load.Availability{Section: sectionID, Capacity: int(res[0]), Held: int(res[1]), Sold: int(res[2])}
		a.Free = a.Capacity - a.Held - a.Sold
		return a, nil
	}
	sp := s.seatPrefix(sectionID)
	pipe := s.rdb.Pipeline()
	var cmds []*redis.SliceCmd
	for i := 0; i < len(sec.labels); i += mgetChunk {
		end := min(i+mgetChunk, len(sec.labels))
		keys := make([]string, 0, end-i)
		for _, l := range sec.labels[i:end] {
			keys = append(keys, sp+l)
		}
		cmds = append(cmds, pipe.MGet(ctx, keys...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return load.Availability{}, s.wrap(err)
	}
	seats := make([]load.SeatView, 0, len(sec.labels))
	for _, cmd := range cmds {
		for _, v := range cmd.Val() {
			status := "free"
			if str, ok := v.(string); ok {
				status = "held"
				if strings.HasPrefix(str, "sold:") {
					status = "sold"
				}
			}
			seats = append(seats, load.SeatView{Label: sec.labels[len(seats)], Status: status})
		}
	}
	return availability(sec, seats), nil
}

// Close closes the Redis client and the PostgreSQL pool.
func (s *redisStore) Close() error {
	err := s.rdb.Close()
	s.pg.Close()
	return err
}

func (s *redisStore) wrap(err error) error {
	if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return err
	}
	return fmt.Errorf("baseline redis: %w", err)
}

// scriptOutcome maps the outcome a release or confirm script answers to an error.
func scriptOutcome(res string) error {
	switch res {
	case "ok":
		return nil
	case "not_found":
		return notFoundf("no hold with that token")
	case "sold":
		return conflictf("the hold was sold")
	case "released":
		return conflictf("the hold was released")
	case "expired":
		return conflictf("the hold has expired")
	default:
		return fmt.Errorf("baseline redis: unexpected script answer %q", res)
	}
}

// ---- Lua ----
//
// Every script takes the section's keys first (free, held, rank, ga, gaholds, gaqty),
// then its own. Seat lock keys are built from the seat prefix (ARGV[1] where used): a
// hold's seats are only known once its record is read, inside the script. This is
// sound on a single Redis (not on a cluster, where the seat keys would need a hash tag).

const luaCommon = `
local free, held, rank, ga, gaholds, gaqty = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- seats dropped from the free set while locked go back once their lock is due to expire
local function requeue(now)
	local due = redis.call('ZRANGEBYSCORE', held, '-inf', now, 'LIMIT', 0, 1000)
	for _, label in ipairs(due) do
		redis.call('ZADD', free, redis.call('HGET', rank, label), label)
	end
	if #due > 0 then redis.call('ZREM', held, unpack(due)) end
end

-- expired general-admission holds give their places back
local function reclaim(now)
	local due = redis.call('ZRANGEBYSCORE', gaholds, '-inf', now, 'LIMIT', 0, 1000)
	if #due == 0 then return end
	local q = 0
	for _, token in ipairs(due) do
		q = q + tonumber(redis.call('HGET', gaqty, token) or '0')
	end
	redis.call('ZREM', gaholds, unpack(due))
	redis.call('HDEL', gaqty, unpack(due))
	redis.call('HINCRBY', ga, 'held', -q)
end

-- frees a seat the token holds: deletes its lock, puts it back into the free set
local function unlock_seat(sp, token, label)
	local k = sp .. label
	if redis.call('GET', k) == token then
		redis.call('DEL', k)
		redis.call('ZADD', free, redis.call('HGET', rank, label), label)
		redis.call('ZREM', held, label)
	end
end

local function split(s)
	local out = {}
	for label in string.gmatch(s or '', '[^,]+') do out[#out + 1] = label end
	return out
end
`

// bestScript: KEYS section keys, hold; ARGV seat prefix, token, ttl ms, n, buyer,
// section, grace ms. Walks the free set by rank, dropping seats whose lock key exists,
// takes the first n free ones. Answers {expires ms, labels...}, or {} when fewer than n
// are free (nothing taken).
var bestScript = redis.NewScript(luaCommon + `
local hold = KEYS[7]
local sp, token, ttl, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
requeue(now)
local picked = {}
while #picked < n do
	local cand = redis.call('ZRANGE', free, #picked, #picked + 63)
	if #cand == 0 then break end
	for _, label in ipairs(cand) do
		local pttl = redis.call('PTTL', sp .. label)
		if pttl == -2 then
			picked[#picked + 1] = label
			if #picked == n then break end
		else
			redis.call('ZREM', free, label)
			if pttl > 0 then redis.call('ZADD', held, now + pttl, label) end
		end
	end
end
if #picked < n then return {} end
local expires = now + ttl
for _, label in ipairs(picked) do
	redis.call('SET', sp .. label, token, 'PX', ttl)
	redis.call('ZADD', held, expires, label)
end
redis.call('ZREM', free, unpack(picked))
redis.call('HSET', hold, 'buyer', ARGV[5], 'section', ARGV[6], 'kind', 'seats', 'seats', table.concat(picked, ','),
	'quantity', n, 'expires', expires, 'state', 'held')
redis.call('PEXPIRE', hold, ttl + tonumber(ARGV[7]))
local out = {expires}
for _, label in ipairs(picked) do out[#out + 1] = label end
return out
`)

// gaScript: KEYS section keys, hold; ARGV token, ttl ms, n, buyer, section, grace ms.
// Answers the hold's expiry (ms), or 0 when fewer than n places are left.
var gaScript = redis.NewScript(luaCommon + `
local hold = KEYS[7]
local token, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
reclaim(now)
local c = redis.call('HMGET', ga, 'capacity', 'held', 'sold')
if not c[1] then return redis.error_reply('no such general-admission section') end
if tonumber(c[2]) + tonumber(c[3]) + n > tonumber(c[1]) then return 0 end
local expires = now + ttl
redis.call('HINCRBY', ga, 'held', n)
redis.call('ZADD', gaholds, expires, token)
redis.call('HSET', gaqty, token, n)
redis.call('HSET', hold, 'buyer', ARGV[4], 'section', ARGV[5], 'kind', 'ga', 'seats', '',
	'quantity', n, 'expires', expires, 'state', 'held')
redis.call('PEXPIRE', hold, ttl + tonumber(ARGV[6]))
return expires
`)

// unlockScript: KEYS section keys; ARGV seat prefix, token, labels... Compare-and-delete
// of the labels' locks.
var unlockScript = redis.NewScript(luaCommon + `
for i = 3, #ARGV do unlock_seat(ARGV[1], ARGV[2], ARGV[i]) end
return 'ok'
`)

// releaseScript: KEYS section keys, hold; ARGV seat prefix, token, buyer, section.
// Answers ok, not_found or sold.
var releaseScript = redis.NewScript(luaCommon + `
local hold = KEYS[7]
local sp, token = ARGV[1], ARGV[2]
local h = redis.call('HMGET', hold, 'buyer', 'section', 'kind', 'seats', 'quantity', 'state')
if not h[1] or h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 'not_found' end
if h[6] == 'confirmed' then return 'sold' end
if h[6] ~= 'held' then return 'ok' end
if h[3] == 'ga' then
	if redis.call('ZREM', gaholds, token) == 1 then
		redis.call('HDEL', gaqty, token)
		redis.call('HINCRBY', ga, 'held', -tonumber(h[5]))
	end
else
	for _, label in ipairs(split(h[4])) do unlock_seat(sp, token, label) end
end
redis.call('HSET', hold, 'state', 'released')
return 'ok'
`)

// confirmScript: KEYS section keys, hold, booking; ARGV seat prefix, token, buyer,
// section, booking id, payment ref. Answers {outcome, seats, quantity}: outcome ok,
// not_found, sold, released or expired.
var confirmScript = redis.NewScript(luaCommon + `
local hold, booking = KEYS[7], KEYS[8]
local sp, token, id = ARGV[1], ARGV[2], ARGV[5]
local h = redis.call('HMGET', hold, 'buyer', 'section', 'kind', 'seats', 'quantity', 'state', 'expires')
if not h[1] or h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return {'not_found', '', 0} end
if h[6] == 'confirmed' then return {'sold', '', 0} end
if h[6] ~= 'held' then return {'released', '', 0} end
local now = now_ms()
if tonumber(h[7]) <= now then return {'expired', '', 0} end
local q = tonumber(h[5])
if h[3] == 'ga' then
	reclaim(now)
	if redis.call('ZREM', gaholds, token) == 0 then return {'expired', '', 0} end
	redis.call('HDEL', gaqty, token)
	redis.call('HINCRBY', ga, 'held', -q)
	redis.call('HINCRBY', ga, 'sold', q)
else
	local seats = split(h[4])
	for _, label in ipairs(seats) do
		if redis.call('GET', sp .. label) ~= token then return {'expired', '', 0} end
	end
	for _, label in ipairs(seats) do
		redis.call('SET', sp .. label, 'sold:' .. id)
	end
	redis.call('ZREM', held, unpack(seats))
	redis.call('ZREM', free, unpack(seats))
end
redis.call('HSET', hold, 'state', 'confirmed', 'booking', id)
redis.call('HSET', booking, 'hold_token', token, 'buyer', h[1], 'section', h[2], 'seats', h[4],
	'quantity', q, 'payment_ref', ARGV[6], 'created', now)
return {'ok', h[4], q}
`)

// gaReadScript: KEYS section keys. Gives expired holds' places back and answers
// {capacity, held, sold}.
var gaReadScript = redis.NewScript(luaCommon + `
reclaim(now_ms())
local c = redis.call('HMGET', ga, 'capacity', 'held', 'sold')
if not c[1] then return redis.error_reply('no such general-admission section') end
return {tonumber(c[1]), tonumber(c[2]), tonumber(c[3])}
`)
