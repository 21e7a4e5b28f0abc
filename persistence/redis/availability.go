package redis

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview"
)

// The availability view of a section is three keys (see the package comment): meta (seq,
// nseats, info, counts, layout id), seats (label → status) and layout (the seats' static
// data in layout order, written once by PutAvailability). A delta's Categories become the view's
// per-category counts, and its totals are recomputed from them; a delta with neither
// seats nor categories (general admission) sets the free count, and its one category's,
// to GAFree. When the view has seats, a delta naming a seat it does not have, or a view
// that lost one of its keys (evicted under memory pressure), makes the section stale.

// viewInfo is the static part of a view.
type viewInfo struct {
	Event   string                 `json:"event"`
	Section string                 `json:"section"`
	Name    string                 `json:"name"`
	Kind    ticketview.SectionKind `json:"kind"`
}

// viewCounts is the part of a view that deltas change. Categories is left out when empty,
// so the script's JSON codec (which cannot tell an empty array from an empty object) never
// sees an empty array.
type viewCounts struct {
	Capacity   int                               `json:"capacity"`
	Free       int                               `json:"free"`
	Held       int                               `json:"held"`
	Sold       int                               `json:"sold"`
	Blocked    int                               `json:"blocked"`
	Categories []ticketview.CategoryAvailability `json:"categories,omitempty"`
}

func (c *Client) viewKeys(id ticketview.SectionID) []string {
	base := c.prefix + "av:{" + id.Event + "/" + id.Section + "}:"
	return []string{base + "meta", base + "seats", base + "layout"}
}

// PutAvailability implements ticketview.AvailabilityCache. The view is replaced
// atomically unless the stored one has a higher Seq. An availability without event or
// section, or with a seat label twice, is EINVALID.
func (c *Client) PutAvailability(ctx context.Context, a ticketview.Availability) error {
	if a.Event == "" || a.Section == "" {
		return ticketview.Errorf(ticketview.EINVALID, "availability needs an event and a section")
	}
	seen := make(map[string]struct{}, len(a.Seats))
	for _, s := range a.Seats {
		if _, dup := seen[s.Label]; dup || s.Label == "" {
			return ticketview.Errorf(ticketview.EINVALID, "availability of %s/%s: seat label %q empty or repeated", a.Event, a.Section, s.Label)
		}
		seen[s.Label] = struct{}{}
	}
	info, err := json.Marshal(viewInfo{Event: a.Event, Section: a.Section, Name: a.Name, Kind: a.Kind})
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "redis: encode view: %v", err)
	}
	counts, err := json.Marshal(viewCounts{Capacity: a.Capacity, Free: a.Free, Held: a.Held, Sold: a.Sold,
		Blocked: a.Blocked, Categories: a.Categories})
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "redis: encode view: %v", err)
	}
	var layout []byte
	lid := ""
	if len(a.Seats) > 0 {
		layout = encodeLayout(a.Seats)
		lid = layoutID(layout)
	}
	args := make([]any, 0, 7+2*len(a.Seats))
	args = append(args, formatUint(a.Seq), c.ttl, string(info), string(counts), strconv.Itoa(len(a.Seats)), layout, lid)
	for _, s := range a.Seats {
		args = append(args, s.Label, statusString(s.Status))
	}
	id := ticketview.SectionID{Event: a.Event, Section: a.Section}
	if err := c.scripts.putView.Run(ctx, c.rdb, c.viewKeys(id), args...).Err(); err != nil {
		return wrapErr("put availability", err)
	}
	if lid != "" {
		c.layouts.put(lid, layoutTemplate(a.Seats))
	}
	return nil
}

// ApplyDeltas implements ticketview.AvailabilityCache. The deltas of each section are
// applied by one script call (atomically), and the calls of all sections go to Redis in
// one pipeline. Each stale section is returned once, in the order it first appears.
func (c *Client) ApplyDeltas(ctx context.Context, deltas []ticketview.SeatDelta) ([]ticketview.SectionID, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	var order []ticketview.SectionID
	groups := map[ticketview.SectionID][]int{}
	for i := range deltas {
		id := deltas[i].Section
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], i)
	}
	calls := make([][]any, len(order))
	for g, id := range order {
		args, err := c.applyArgs(deltas, groups[id])
		if err != nil {
			return nil, err
		}
		calls[g] = args
	}
	cmds, err := c.evalPipelined(ctx, c.scripts.applyDeltas, order, calls)
	if err != nil {
		return nil, wrapErr("apply deltas", err)
	}
	var stale []ticketview.SectionID
	for g, cmd := range cmds {
		n, err := cmd.Int64()
		if err != nil {
			return nil, wrapErr("apply deltas", err)
		}
		if n < 0 {
			stale = append(stale, order[g])
		}
	}
	return stale, nil
}

// applyArgs builds the applyDeltasLua arguments of one section's deltas.
func (c *Client) applyArgs(deltas []ticketview.SeatDelta, idx []int) ([]any, error) {
	args := make([]any, 0, 2+8*len(idx))
	args = append(args, c.ttl, strconv.Itoa(len(idx)))
	var lastCats []ticketview.CategoryAvailability
	for _, i := range idx {
		d := &deltas[i]
		mode, arg := "-", ""
		switch {
		case len(d.Categories) > 0 && lastCats != nil && slices.Equal(lastCats, d.Categories):
			mode = "="
		case len(d.Categories) > 0:
			b, err := json.Marshal(countsOf(d.Categories))
			if err != nil {
				return nil, ticketview.Errorf(ticketview.EINTERNAL, "redis: encode counts: %v", err)
			}
			mode, arg, lastCats = "c", string(b), d.Categories
		case len(d.Seats) == 0:
			mode, arg = "g", strconv.Itoa(d.GAFree)
		}
		args = append(args, formatUint(d.Seq), formatUint(d.Prev), statusString(d.Status), mode, arg, strconv.Itoa(len(d.Seats)))
		for _, l := range d.Seats {
			args = append(args, l)
		}
	}
	return args, nil
}

// countsOf is the counts a delta's categories tell: theirs, and totals summed from them.
func countsOf(cats []ticketview.CategoryAvailability) viewCounts {
	v := viewCounts{Categories: cats}
	for _, ca := range cats {
		v.Capacity += ca.Capacity
		v.Free += ca.Free
		v.Held += ca.Held
		v.Sold += ca.Sold
		v.Blocked += ca.Blocked
	}
	return v
}

// evalPipelined runs script once per section with the given arguments, in one pipeline.
// If the server does not know the script (it restarted, or its script cache was
// flushed), it loads it and runs the whole pipeline again: the scripts are idempotent.
func (c *Client) evalPipelined(ctx context.Context, s *goredis.Script, ids []ticketview.SectionID, calls [][]any) ([]*goredis.Cmd, error) {
	run := func() ([]*goredis.Cmd, error) {
		pipe := c.rdb.Pipeline()
		cmds := make([]*goredis.Cmd, len(ids))
		for g, id := range ids {
			cmds[g] = s.EvalSha(ctx, pipe, c.viewKeys(id), calls[g]...)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return nil, err
		}
		cmds, err = run()
	}
	return cmds, err
}

// CachedAvailability implements ticketview.AvailabilityCache. The counts come from one
// HMGET; with seats, the view's meta and seat statuses are read in one MULTI/EXEC, so
// they are of the same moment, and the layout (immutable, named by a hash of its bytes)
// comes from the client's own layout cache, or from Redis the first time. A view that
// lost its seats or layout (evicted) is ENOTFOUND, like a missing one.
func (c *Client) CachedAvailability(ctx context.Context, id ticketview.SectionID, withSeats bool) (ticketview.Availability, error) {
	keys := c.viewKeys(id)
	if !withSeats {
		vals, err := c.rdb.HMGet(ctx, keys[0], metaFields...).Result()
		if err != nil {
			return ticketview.Availability{}, wrapErr("read availability", err)
		}
		a, _, _, err := decodeMeta(id, vals)
		return a, err
	}
	for range 3 {
		var meta *goredis.SliceCmd
		var seats *goredis.MapStringStringCmd
		var layout *goredis.IntCmd
		_, err := c.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			meta = p.HMGet(ctx, keys[0], metaFields...)
			seats = p.HGetAll(ctx, keys[1])
			layout = p.Exists(ctx, keys[2])
			return nil
		})
		if err != nil {
			return ticketview.Availability{}, wrapErr("read availability", err)
		}
		a, nseats, lid, err := decodeMeta(id, meta.Val())
		if err != nil || nseats == 0 {
			return a, err
		}
		st := seats.Val()
		if len(st) != nseats || layout.Val() != 1 {
			return ticketview.Availability{}, notFound("cached availability of %s is incomplete", id)
		}
		tmpl := c.layouts.get(lid)
		if tmpl == nil {
			b, err := c.rdb.Get(ctx, keys[2]).Bytes()
			if errors.Is(err, goredis.Nil) {
				return ticketview.Availability{}, notFound("cached availability of %s is incomplete", id)
			} else if err != nil {
				return ticketview.Availability{}, wrapErr("read availability", err)
			}
			if layoutID(b) != lid {
				continue // a Put replaced the view meanwhile: read it again
			}
			if tmpl, err = decodeLayout(b); err != nil {
				return ticketview.Availability{}, ticketview.Errorf(ticketview.EINTERNAL, "redis: corrupt layout of %s: %v", id, err)
			}
			c.layouts.put(lid, tmpl)
		}
		if len(tmpl) != nseats {
			return ticketview.Availability{}, ticketview.Errorf(ticketview.EINTERNAL, "redis: layout of %s has %d seats, the view %d", id, len(tmpl), nseats)
		}
		a.Seats = slices.Clone(tmpl)
		for i := range a.Seats {
			s, ok := st[a.Seats[i].Label]
			if !ok {
				return ticketview.Availability{}, notFound("cached availability of %s is incomplete", id)
			}
			a.Seats[i].Status = parseStatus(s)
		}
		return a, nil
	}
	return ticketview.Availability{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "redis: the view of %s keeps changing its layout", id)
}

var metaFields = []string{"seq", "nseats", "info", "counts", "layout"}

// decodeMeta builds an availability (without seats) from HMGET metaFields, and returns
// the number of seats and the layout id too.
func decodeMeta(id ticketview.SectionID, vals []any) (ticketview.Availability, int, string, error) {
	str := make([]string, len(metaFields))
	for i := range str {
		var ok bool
		if i < len(vals) {
			str[i], ok = vals[i].(string)
		}
		if !ok && i < 4 {
			return ticketview.Availability{}, 0, "", notFound("no cached availability for %s", id)
		}
	}
	seq, err1 := strconv.ParseUint(str[0], 10, 64)
	n, err2 := strconv.Atoi(str[1])
	var info viewInfo
	var counts viewCounts
	err3 := json.Unmarshal([]byte(str[2]), &info)
	err4 := json.Unmarshal([]byte(str[3]), &counts)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return ticketview.Availability{}, 0, "", ticketview.Errorf(ticketview.EINTERNAL, "redis: corrupt view of %s: %v", id, err)
	}
	return ticketview.Availability{Event: info.Event, Section: info.Section, Name: info.Name, Kind: info.Kind,
		Seq: seq, Capacity: counts.Capacity, Free: counts.Free, Held: counts.Held, Sold: counts.Sold,
		Blocked: counts.Blocked, Categories: counts.Categories}, n, str[4], nil
}

func statusString(s ticketview.SeatStatus) string { return strconv.Itoa(int(s)) }

func parseStatus(s string) ticketview.SeatStatus {
	if len(s) == 1 {
		return ticketview.SeatStatus(s[0] - '0')
	}
	n, _ := strconv.Atoi(s)
	return ticketview.SeatStatus(n)
}

// layoutID names an encoded layout by its content.
func layoutID(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// layoutTemplate is a copy of seats with every status free, as the layout cache keeps them.
func layoutTemplate(seats []ticketview.SeatView) []ticketview.SeatView {
	t := slices.Clone(seats)
	for i := range t {
		t[i].Status = ticketview.SeatFree
	}
	return t
}

// layoutCache keeps decoded layouts by id, up to layoutCacheSeats seats in all (about
// 100 bytes each), dropping the oldest first. Layouts never change under an id, so a
// cached one is never stale.
type layoutCache struct {
	mu    sync.Mutex
	m     map[string][]ticketview.SeatView
	order []string
	seats int
}

const layoutCacheSeats = 100_000

func (lc *layoutCache) get(id string) []ticketview.SeatView {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.m[id]
}

func (lc *layoutCache) put(id string, seats []ticketview.SeatView) {
	if len(seats) > layoutCacheSeats {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if _, ok := lc.m[id]; ok {
		return
	}
	if lc.m == nil {
		lc.m = map[string][]ticketview.SeatView{}
	}
	for lc.seats+len(seats) > layoutCacheSeats && len(lc.order) > 0 {
		old := lc.order[0]
		lc.order = lc.order[1:]
		lc.seats -= len(lc.m[old])
		delete(lc.m, old)
	}
	lc.m[id] = seats
	lc.order = append(lc.order, id)
	lc.seats += len(seats)
}

// layoutVersion starts an encoded layout.
const layoutVersion = 1

// encodeLayout encodes the static data of seats (everything but the status), in order:
// a version byte, the count, then per seat its label, row and category (length-prefixed),
// number (varint), x and y (float64 bits, little endian) and accessible (a byte).
func encodeLayout(seats []ticketview.SeatView) []byte {
	n := 1 + binary.MaxVarintLen64
	for i := range seats {
		n += len(seats[i].Label) + len(seats[i].Row) + len(seats[i].Category) + 3 + binary.MaxVarintLen64 + 17
	}
	buf := make([]byte, 0, n)
	buf = append(buf, layoutVersion)
	buf = binary.AppendUvarint(buf, uint64(len(seats)))
	for i := range seats {
		s := &seats[i]
		buf = appendString(buf, s.Label)
		buf = appendString(buf, s.Row)
		buf = appendString(buf, s.Category)
		buf = binary.AppendVarint(buf, int64(s.Number))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s.X))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s.Y))
		acc := byte(0)
		if s.Accessible {
			acc = 1
		}
		buf = append(buf, acc)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

var errCorruptLayout = errors.New("corrupt layout")

// decodeLayout decodes what encodeLayout wrote. Rows and categories repeat, so they are
// interned: a 2,400-seat section allocates its labels and little more.
func decodeLayout(b []byte) ([]ticketview.SeatView, error) {
	if len(b) == 0 || b[0] != layoutVersion {
		return nil, errCorruptLayout
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errCorruptLayout
	}
	b = b[k:]
	seats := make([]ticketview.SeatView, n)
	intern := map[string]string{}
	str := func(in bool) (string, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return "", false
		}
		raw := b[k : k+int(l)]
		b = b[k+int(l):]
		if in {
			if s, ok := intern[string(raw)]; ok {
				return s, true
			}
			s := string(raw)
			intern[s] = s
			return s, true
		}
		return string(raw), true
	}
	for i := range seats {
		s := &seats[i]
		var ok1, ok2, ok3 bool
		s.Label, ok1 = str(false)
		s.Row, ok2 = str(true)
		s.Category, ok3 = str(true)
		num, k := binary.Varint(b)
		if !ok1 || !ok2 || !ok3 || k <= 0 || len(b)-k < 17 {
			return nil, errCorruptLayout
		}
		s.Number = int(num)
		b = b[k:]
		s.X = math.Float64frombits(binary.LittleEndian.Uint64(b))
		s.Y = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		s.Accessible = b[16] == 1
		b = b[17:]
	}
	if len(b) != 0 {
		return nil, errCorruptLayout
	}
	return seats, nil
}
