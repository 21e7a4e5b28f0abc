package journalfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
)

type reqKind uint8

const (
	reqActivate reqKind = iota + 1 // take the next epoch: an EPOCH record
	reqAppend                      // an EVENTS record
	reqSnapshot                    // a SNAPSHOT record
	reqLocate                      // read-only: where the section's records are
)

// A request is one operation waiting for the committer. The caller learns its outcome
// only after the batch it joined is durable.
type request struct {
	kind  reqKind
	id    ticketview.SectionID
	epoch uint64 // the caller's epoch; for reqActivate, the epoch taken
	first uint64 // reqAppend: first seq; reqSnapshot: the snapshot's seq
	last  uint64
	rec   []byte // the framed record (reqAppend, reqSnapshot), encoded by the caller

	fn   func() // reqLocate: run by the committer after the batch (Compact)
	view view   // reqActivate, reqLocate: filled in when answered

	groupcommit.Request
}

func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	return s.queue.Submit(ctx, r)
}

// await waits for a request's outcome. A caller whose context ends while the request is
// still queued withdraws it; once the committer has taken it, the outcome is known
// within one commit, and await reports it.
func (s *Store) await(ctx context.Context, r *request) error {
	return s.queue.Await(ctx, r)
}

func (s *Store) do(ctx context.Context, r *request) error {
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return s.await(ctx, r)
}

// committer owns the index and the log's tail. Only its goroutine touches its fields
// (after Open).
type committer struct {
	s      *Store
	index  map[ticketview.SectionID]*section
	seg    uint32 // current segment
	end    int64  // where its records end
	segCap int64  // its size
	sealed int64  // bytes of records in the generation's earlier segments
	broken error  // set for good after a failed write or fdatasync

	buf    []byte
	staged map[ticketview.SectionID]*section
	order  []ticketview.SectionID
	live   []*request

	prep     chan prepared
	prepWait sync.WaitGroup

	checkedSealed int64
	compactions   atomic.Uint64
}

var bg = context.Background()

type prepared struct {
	f    *os.File
	size int64
	err  error
}

// startPrepare zero-fills the next segment in the background (prep.tmp), so that a
// segment switch costs a rename, not a 64 MiB write.
func (c *committer) startPrepare() {
	ch := make(chan prepared, 1)
	c.prep = ch
	c.prepWait.Add(1)
	go func() {
		defer c.prepWait.Done()
		path := filepath.Join(c.s.dir, "prep.tmp")
		os.Remove(path)
		f, size, err := c.s.createSegment(path, c.s.opts.SegmentSize)
		ch <- prepared{f: f, size: size, err: err}
	}()
}

func (c *committer) waitPrepare() {
	c.prepWait.Wait()
	if c.prep == nil {
		return
	}
	select {
	case p := <-c.prep:
		if p.f != nil {
			p.f.Close()
			os.Remove(filepath.Join(c.s.dir, "prep.tmp"))
		}
	default:
	}
}

// newSegment makes the next segment of the live generation, of at least need bytes,
// durable in its directory, and returns it.
func (c *committer) newSegment(dir string, n uint32, need int64) (*os.File, int64, error) {
	path := filepath.Join(dir, segName(n))
	var f *os.File
	var size int64
	var err error
	if need <= c.s.opts.SegmentSize {
		p := <-c.prep
		f, size, err = p.f, p.size, p.err
		if err == nil {
			if err = os.Rename(filepath.Join(c.s.dir, "prep.tmp"), path); err != nil {
				f.Close()
			}
		}
		c.startPrepare() // only after the rename: it starts by removing prep.tmp
		if err != nil {
			f, size, err = c.s.createSegment(path, c.s.opts.SegmentSize) // try once more, here
		}
	} else {
		f, size, err = c.s.createSegment(path, need)
	}
	if err != nil {
		return nil, 0, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// roll switches the log to a new segment with room for need bytes.
func (c *committer) roll(need int64) error {
	n := c.seg + 1
	f, size, err := c.newSegment(c.s.genDir(c.s.gen), n, need)
	if err != nil {
		return err
	}
	c.s.filesMu.Lock()
	c.s.files[n] = f
	c.s.filesMu.Unlock()
	c.sealed += c.end
	c.seg, c.end, c.segCap = n, 0, size
	return nil
}

// Commit delay, as in the SQLite store (see groupcommit.Config), with shorter waits.
const (
	gatherMin   = 8
	gatherQuiet = 15 * time.Microsecond
	gatherMax   = 100 * time.Microsecond
)

// run is the committer loop: it takes the first queued request, drains what else is
// queued (up to MaxBatch), commits them as one batch and answers them; between batches
// it compacts the log when needed.
func (c *committer) run() {
	c.s.queue.Run(func(reqs []*request) int {
		answered := c.apply(reqs)
		if c.broken == nil && c.needCompaction() {
			c.compact()
		}
		return answered
	})
}

// get returns the section as the batch sees it (staged changes first), nil if unknown.
func (c *committer) get(id ticketview.SectionID) *section {
	if st, ok := c.staged[id]; ok {
		return st
	}
	return c.index[id]
}

// stage returns a copy of the section the batch may change (creating it if need be).
func (c *committer) stage(id ticketview.SectionID) *section {
	if st, ok := c.staged[id]; ok {
		return st
	}
	st := &section{}
	if cur := c.index[id]; cur != nil {
		*st = *cur
		// Appending to st.evs may write past the end of cur.evs in a shared array: cur
		// never sees those elements (its length stays), and cur is replaced or kept
		// as a whole.
	}
	c.staged[id] = st
	c.order = append(c.order, id)
	return st
}

// apply commits one batch and answers its requests; it returns how many it answered.
// A request that is fenced or has a seq gap gets its own error while the others commit.
// If the write or the fdatasync fails, every request gets EUNAVAILABLE, the index does
// not change and the store is broken for good.
func (c *committer) apply(reqs []*request) int {
	s := c.s
	live := groupcommit.Take(c.live[:0], reqs)
	c.live = live
	if len(live) == 0 {
		return 0
	}
	defer func() {
		clear(c.live)
	}()
	if c.broken != nil {
		for _, r := range live {
			r.Finish(c.broken)
		}
		return len(live)
	}
	s.commits.Add(1)
	s.requests.Add(uint64(len(live)))

	if c.staged == nil {
		c.staged = map[ticketview.SectionID]*section{}
	}
	clear(c.staged)
	c.order = c.order[:0]
	buf := c.buf[:0]
	for _, r := range live {
		switch r.kind {
		case reqActivate:
			st := c.stage(r.id)
			st.epoch++
			r.epoch = st.epoch
			buf = appendEpochRecord(buf, r.id, st.epoch)
		case reqAppend:
			cur := c.get(r.id)
			switch {
			case cur == nil || cur.epoch != r.epoch:
				r.Err = fenced(r.id, r.epoch, epochOf(cur))
			case len(r.rec) == 0:
			case r.first != cur.lastSeq+1:
				r.Err = ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: append at seq %d, the journal ends at %d", r.id, r.first, cur.lastSeq)
			default:
				st := c.stage(r.id)
				st.lastSeq = r.last
				st.evs = append(st.evs, evRec{loc: loc{off: int64(len(buf)), n: int64(len(r.rec))}, first: r.first, last: r.last})
				buf = append(buf, r.rec...)
			}
		case reqSnapshot:
			cur := c.get(r.id)
			switch {
			case cur == nil || cur.epoch != r.epoch:
				r.Err = fenced(r.id, r.epoch, epochOf(cur))
			case r.first > cur.lastSeq:
				r.Err = ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: snapshot at %d beyond the journal's end %d", r.id, r.first, cur.lastSeq)
			case r.first < cur.snapSeq:
				r.Err = ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: snapshot at %d older than the stored one at %d", r.id, r.first, cur.snapSeq)
			default:
				st := c.stage(r.id)
				st.snap, st.snapSeq = loc{off: int64(len(buf)), n: int64(len(r.rec))}, r.first
				st.evs = dropCovered(st.evs, r.first)
				buf = append(buf, r.rec...)
			}
		case reqLocate:
		}
	}
	c.buf = buf

	if len(buf) > 0 {
		if err := c.write(buf); err != nil {
			c.broken = ticketview.Errorf(ticketview.EUNAVAILABLE,
				"journalfile: write failed, the store takes no more writes (the batch was not acknowledged; part of it may be found on the next Open): %v", err)
			for _, r := range live {
				r.Finish(c.broken)
			}
			return len(live)
		}
		base := c.end - int64(len(buf))
		for _, id := range c.order {
			st := c.staged[id]
			if st.snap.n > 0 && st.snap.seg == 0 {
				st.snap.seg, st.snap.off = c.seg, base+st.snap.off
			}
			for i := range st.evs {
				if e := &st.evs[i]; e.seg == 0 {
					e.seg, e.off = c.seg, base+e.off
				}
			}
			c.index[id] = st
		}
	}
	if cap(c.buf) > 4<<20 {
		c.buf = nil // do not keep a huge snapshot's buffer
	}
	for _, r := range live {
		if r.fn != nil {
			r.fn()
		}
	}
	for _, r := range live {
		if r.Err == nil && (r.kind == reqActivate || r.kind == reqLocate) {
			r.view = c.viewOf(r.id)
		}
		r.Answer()
	}
	return len(live)
}

func epochOf(s *section) uint64 {
	if s == nil {
		return 0
	}
	return s.epoch
}

func (c *committer) viewOf(id ticketview.SectionID) view {
	v := view{gen: c.s.gen}
	if st := c.index[id]; st != nil {
		v.snap, v.snapSeq, v.lastSeq = st.snap, st.snapSeq, st.lastSeq
		v.evs = append([]evRec(nil), st.evs...)
	}
	return v
}

// write appends buf at the end of the log (switching segments if it does not fit) with
// one pwrite and makes it durable with one fdatasync.
func (c *committer) write(buf []byte) error {
	n := int64(len(buf))
	if c.end+n > c.segCap {
		if err := c.roll(n); err != nil {
			return fmt.Errorf("new segment: %w", err)
		}
	}
	c.s.filesMu.RLock()
	f := c.s.files[c.seg]
	c.s.filesMu.RUnlock()
	if _, err := f.WriteAt(buf, c.end); err != nil {
		return err
	}
	c.s.syncs.Add(1)
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	c.end += n
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
