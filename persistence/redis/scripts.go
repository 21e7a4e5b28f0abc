package redis

import (
	"strconv"

	goredis "github.com/redis/go-redis/v9"
)

// gtLua compares two decimal strings without leading zeros as unsigned integers, exactly
// (Lua numbers are doubles, exact only up to 2^53).
const gtLua = `
local function gt(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
`

// putViewLua replaces a section's view unless the stored one is newer.
//
// KEYS: meta, seats, layout. ARGV: seq, ttl (ms), info, counts, nseats, layout, layout
// id, then label, status pairs. Returns 1 when stored, 0 when a newer view was kept.
const putViewLua = gtLua + `
local cur = redis.call('HGET', KEYS[1], 'seq')
if cur and gt(cur, ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'info', ARGV[3], 'counts', ARGV[4], 'nseats', ARGV[5], 'layout', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[2])
  for i = 8, #ARGV, 1000 do
    redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
`

// applyDeltasLua applies one section's deltas, in order, atomically.
//
// KEYS: meta, seats, layout. ARGV: ttl (ms), number of deltas, then per delta: seq, prev,
// status, counts mode, counts argument, number of seats, the seat labels. Counts modes:
// 'c' the argument is the new counts (JSON); '=' the counts of the last 'c' before it in
// this call; 'g' a general-admission delta without categories, the argument is the free
// count; '-' the counts do not change.
//
// Returns the number of deltas applied, or -1 when the section is stale: no view, a gap
// (Prev beyond the view's seq), a seat the view does not have, or a view that lost keys
// (evicted); its keys are then deleted.
const applyDeltasLua = gtLua + `
local meta, seats, layout = KEYS[1], KEYS[2], KEYS[3]
local function stale()
  redis.call('DEL', meta, seats, layout)
  return -1
end
local function setSeats(from, to, st)
  local added, args = 0, {}
  for j = from, to do
    args[#args + 1] = ARGV[j]
    args[#args + 1] = st
    if #args >= 1000 then
      added = added + redis.call('HSET', seats, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    added = added + redis.call('HSET', seats, unpack(args))
  end
  return added
end
local v = redis.call('HMGET', meta, 'seq', 'nseats')
local cur, nseats = v[1], tonumber(v[2])
if not cur or not nseats then return stale() end
if nseats > 0 and (redis.call('HLEN', seats) ~= nseats or redis.call('EXISTS', layout) == 0) then
  return stale()
end
local counts, last = nil, nil
local applied = 0
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local seq, prev, st, mode, arg = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local first = i + 6
  i = first + tonumber(ARGV[i+5])
  if mode == 'c' then last = arg end
  if gt(seq, cur) then
    if gt(prev, cur) then return stale() end
    if nseats > 0 and setSeats(first, i - 1, st) > 0 then
      return stale() -- HSET added a field: a seat the view does not have
    end
    if mode == 'c' or mode == '=' then
      counts = last
    elseif mode == 'g' then
      local c = cjson.decode(counts or redis.call('HGET', meta, 'counts'))
      c.free = tonumber(arg)
      if type(c.categories) == 'table' and #c.categories == 1 then
        c.categories[1].free = tonumber(arg)
      end
      counts = cjson.encode(c)
    end
    cur = seq
    applied = applied + 1
  end
end
if applied > 0 then
  if counts then
    redis.call('HSET', meta, 'seq', cur, 'counts', counts)
  else
    redis.call('HSET', meta, 'seq', cur)
  end
  redis.call('PEXPIRE', meta, ARGV[1])
  if nseats > 0 then
    redis.call('PEXPIRE', seats, ARGV[1])
    redis.call('PEXPIRE', layout, ARGV[1])
  end
end
return applied
`

// putSnapshotLua stores a snapshot unless the stored one is newer.
//
// KEYS: the snapshot key. ARGV: seq, data, ttl (ms). Returns 1 when stored, 0 when a newer
// snapshot was kept.
const putSnapshotLua = gtLua + `
local cur = redis.call('HGET', KEYS[1], 'seq')
if cur and gt(cur, ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'data', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

// incrLua adds to a fixed-window counter, starting its window when it is new.
//
// KEYS: the counter. ARGV: n, window (ms). Returns {value, ms until it resets}.
const incrLua = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {v, ttl}
`

// scripts are the client's Lua scripts. A nonce (tests only) makes them new to the server.
type scripts struct {
	putView, applyDeltas, putSnapshot, incr *goredis.Script
}

func newScripts(nonce string) *scripts {
	tag := ""
	if nonce != "" {
		tag = "\n-- " + nonce + "\n"
	}
	return &scripts{
		putView:     goredis.NewScript(putViewLua + tag),
		applyDeltas: goredis.NewScript(applyDeltasLua + tag),
		putSnapshot: goredis.NewScript(putSnapshotLua + tag),
		incr:        goredis.NewScript(incrLua + tag),
	}
}

func formatInt(n int64) string   { return strconv.FormatInt(n, 10) }
func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
