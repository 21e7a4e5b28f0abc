// Package journalfile is an embedded, durable ticketview.SectionStore: a segmented
// append-only log with group commit.
//
// Layout of the directory:
//
//	LOCK                 flock'ed by the owning process
//	MANIFEST             "journalfile 1\ngen N\n": the live generation, replaced atomically
//	gen-NNNNNNNN/        the live generation's segments
//	    00000001.log     preallocated (zero-filled) segments, records appended in order
//	prep.tmp             the next segment, zero-filled ahead of time in the background
//
// One committer goroutine owns the in-memory index and the tail of the log: it takes the
// queued requests, checks them against the index (fencing, seq gaps), encodes all their
// records into one buffer, writes it with one pwrite at the end of the current segment,
// makes it durable with one fdatasync and only then updates the index and answers. Since
// segments are preallocated by writing zeroes, fdatasync flushes data blocks only.
//
// Compaction writes a checkpoint (every section's epoch, latest snapshot and the events
// after it) as a new generation, makes it durable, switches MANIFEST to it (rename, fsync
// of the directory) and only then deletes the old generation.
package journalfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// SegmentSize is the preallocated size of a segment file (default 64 MiB). A batch
	// larger than that gets a segment of its own size.
	SegmentSize int64
	// CompactMin: compaction runs when the sealed segments hold more than CompactMin
	// bytes and more than CompactRatio times the live data (default 256 MiB).
	CompactMin int64
	// CompactRatio (default 4).
	CompactRatio int64
	// MaxBatch caps the requests of one group commit (default 1024).
	MaxBatch int
}

func (o *Options) defaults() {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.CompactMin <= 0 {
		o.CompactMin = 256 << 20
	}
	if o.CompactRatio <= 0 {
		o.CompactRatio = 4
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
}

// Store is the journal. It implements ticketview.SectionStore and is safe for
// concurrent use.
type Store struct {
	dir  string
	opts Options
	lock *os.File

	queue  *groupcommit.Queue[*request]
	closed atomic.Bool
	once   sync.Once

	// The segment files of the live generation. Readers (Activate) hold filesMu for
	// reading while they read; the committer takes it for writing to add a segment or
	// to switch generations.
	filesMu sync.RWMutex
	gen     uint64
	files   map[uint32]*os.File

	// Owned by the committer goroutine (and by Open before it starts).
	c committer

	commits, requests, syncs atomic.Uint64
}

var _ ticketview.SectionStore = (*Store)(nil)

var errClosed = ticketview.Errorf(ticketview.EUNAVAILABLE, "journalfile: store closed")

// loc is where a framed record is: segment number, offset and length (header included).
// seg 0 means "in the batch being written", off then relative to the batch buffer.
type loc struct {
	seg uint32
	off int64
	n   int64
}

type evRec struct {
	loc
	first, last uint64
}

// section is the index entry of one section.
type section struct {
	epoch   uint64
	lastSeq uint64
	snapSeq uint64
	snap    loc // n == 0: no snapshot
	evs     []evRec
}

func (s *section) liveBytes() int64 {
	n := int64(64) + s.snap.n
	for _, e := range s.evs {
		n += e.n
	}
	return n
}

// Open opens (creating it if need be) the journal in dir with default options.
func Open(dir string) (*Store, error) { return OpenOptions(dir, Options{}) }

// OpenOptions opens the journal in dir. Only one Store may have a directory open: a
// second Open, from this or another process, fails.
func OpenOptions(dir string, opts Options) (*Store, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journalfile: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journalfile: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("journalfile: %s is already open (by this or another process)", dir)
		}
		return nil, fmt.Errorf("journalfile: lock %s: %w", dir, err)
	}
	s := &Store{dir: dir, opts: opts, lock: lock, files: map[uint32]*os.File{},
		queue: groupcommit.New[*request](groupcommit.Config{
			Size: 4096, MaxBatch: opts.MaxBatch, Closed: errClosed,
			GatherMin: gatherMin, GatherQuiet: gatherQuiet, GatherMax: gatherMax,
		})}
	s.c.s = s
	s.c.index = map[ticketview.SectionID]*section{}
	if err := s.recover(); err != nil {
		s.closeFiles()
		lock.Close()
		return nil, err
	}
	s.c.startPrepare()
	go s.c.run()
	return s, nil
}

// Close stops the committer (queued requests fail) and closes the files.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.queue.Close()
		s.c.waitPrepare()
		s.filesMu.Lock()
		s.closeFiles()
		s.filesMu.Unlock()
		s.lock.Close() // releases the flock
	})
	return nil
}

func (s *Store) closeFiles() {
	for n, f := range s.files {
		f.Close()
		delete(s.files, n)
	}
}

func (s *Store) genDir(gen uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("gen-%08d", gen))
}

func segName(n uint32) string { return fmt.Sprintf("%08d.log", n) }

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readManifest returns the live generation, 0 if there is no MANIFEST.
func (s *Store) readManifest() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "MANIFEST"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("journalfile: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "journalfile 1" || !strings.HasPrefix(lines[1], "gen ") {
		return 0, fmt.Errorf("journalfile: corrupt MANIFEST %q", b)
	}
	gen, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "gen "), 10, 64)
	if err != nil || gen == 0 {
		return 0, fmt.Errorf("journalfile: corrupt MANIFEST %q", b)
	}
	return gen, nil
}

// writeManifest durably names gen the live generation: write a temporary file, fsync
// it, rename it over MANIFEST, fsync the directory.
func (s *Store) writeManifest(gen uint64) error {
	tmp := filepath.Join(s.dir, "MANIFEST.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "journalfile 1\ngen %d\n", gen)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "MANIFEST")); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// recover finds the live generation (creating the first one in a new directory), removes
// what is not part of it, scans its segments and builds the index.
func (s *Store) recover() error {
	gen, err := s.readManifest()
	if err != nil {
		return err
	}
	if gen == 0 { // a new directory (or a crash during the very first Open)
		gen = 1
		if err := s.removeGenerationsExcept(0); err != nil {
			return err
		}
		if err := os.MkdirAll(s.genDir(gen), 0o755); err != nil {
			return fmt.Errorf("journalfile: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("journalfile: %w", err)
		}
		if err := s.writeManifest(gen); err != nil {
			return fmt.Errorf("journalfile: write MANIFEST: %w", err)
		}
	}
	// Leftovers: a checkpoint that never became live, an old generation whose deletion
	// was interrupted, a half-prepared segment.
	if err := s.removeGenerationsExcept(gen); err != nil {
		return err
	}
	os.Remove(filepath.Join(s.dir, "prep.tmp"))
	os.Remove(filepath.Join(s.dir, "MANIFEST.tmp"))
	s.gen = gen

	gdir := s.genDir(gen)
	ents, err := os.ReadDir(gdir)
	if err != nil {
		return fmt.Errorf("journalfile: live generation %d: %w", gen, err)
	}
	var segs []uint32
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("journalfile: unexpected file %s in %s", name, gdir)
		}
		segs = append(segs, uint32(n))
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[i-1]+1 {
			return fmt.Errorf("journalfile: segment %d missing in %s", segs[i-1]+1, gdir)
		}
	}
	c := &s.c
	for i, n := range segs {
		f, err := os.OpenFile(filepath.Join(gdir, segName(n)), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("journalfile: %w", err)
		}
		s.files[n] = f
		last := i == len(segs)-1
		end, err := c.scanSegment(n, f, last)
		if err != nil {
			return err
		}
		if !last {
			c.sealed += end
		} else {
			c.seg, c.end = n, end
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("journalfile: %w", err)
			}
			c.segCap = st.Size()
		}
	}
	if len(segs) == 0 {
		f, size, err := s.createSegment(filepath.Join(gdir, segName(1)), s.opts.SegmentSize)
		if err != nil {
			return fmt.Errorf("journalfile: create segment: %w", err)
		}
		if err := syncDir(gdir); err != nil {
			f.Close()
			return fmt.Errorf("journalfile: %w", err)
		}
		s.files[1] = f
		c.seg, c.end, c.segCap = 1, 0, size
	}
	return nil
}

func (s *Store) removeGenerationsExcept(gen uint64) error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("journalfile: %w", err)
	}
	removed := false
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "gen-") {
			continue
		}
		if g, err := strconv.ParseUint(strings.TrimPrefix(e.Name(), "gen-"), 10, 64); err == nil && g == gen {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return fmt.Errorf("journalfile: remove stale generation: %w", err)
		}
		removed = true
	}
	if removed {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("journalfile: %w", err)
		}
	}
	return nil
}

// createSegment creates a segment of at least size bytes, zero-filled (so later writes
// into it change no metadata) and durable.
func (s *Store) createSegment(path string, size int64) (*os.File, int64, error) {
	size = (size + 1<<16 - 1) &^ (1<<16 - 1)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(path)
		return nil, 0, err
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		return fail(fmt.Errorf("fallocate: %w", err))
	}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return f, size, nil
}

var errCorrupt = errors.New("corrupt")

// scanSegment replays a segment's records into the index and returns where its records
// end. In the last segment the first bad record (bad length or CRC, or the zeroes of
// preallocation) is a torn tail: the log ends there, and what follows is zeroed so that
// later appends are never followed by stale bytes. In an earlier segment, anything but
// the zeroes of preallocation after the last record is corruption.
func (c *committer) scanSegment(n uint32, f *os.File, last bool) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("journalfile: %w", err)
	}
	size := st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	var off int64
	var hdr [headerSize]byte
	var buf []byte
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("journalfile: segment %s of generation %d: %s at offset %d: %w (not the last segment: refusing to open)",
			segName(n), c.s.gen, why, off, errCorrupt)
	}
	for {
		if size-off < headerSize {
			break
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("journalfile: read segment %s: %w", segName(n), err)
		}
		length := int64(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16 | uint32(hdr[3])<<24)
		if length == 0 {
			if !last && !bytes.Equal(hdr[:], make([]byte, headerSize)) {
				return bad("record of length 0")
			}
			break
		}
		if length > maxRecord || length > size-off-headerSize {
			if !last {
				return bad("record length beyond the segment")
			}
			break
		}
		if int64(cap(buf)) < headerSize+length {
			buf = make([]byte, headerSize+length)
		}
		frame := buf[:headerSize+length]
		copy(frame, hdr[:])
		if _, err := io.ReadFull(r, frame[headerSize:]); err != nil {
			return 0, fmt.Errorf("journalfile: read segment %s: %w", segName(n), err)
		}
		p, ok := checkFrame(frame)
		if !ok {
			if !last {
				return bad("checksum mismatch")
			}
			break
		}
		rec, ok := decodePayload(p)
		if !ok {
			return bad("undecodable record")
		}
		if err := c.replay(rec, loc{seg: n, off: off, n: headerSize + length}); err != nil {
			return 0, fmt.Errorf("journalfile: segment %s offset %d: %w", segName(n), off, err)
		}
		off += headerSize + length
	}
	if last {
		if err := zeroTail(f, off, size); err != nil {
			return 0, fmt.Errorf("journalfile: clear the torn tail of %s: %w", segName(n), err)
		}
	}
	return off, nil
}

// zeroTail makes sure the segment holds only zeroes after end, so that appends written
// there are never followed by remains of a torn write.
func zeroTail(f *os.File, end, size int64) error {
	buf := make([]byte, 1<<20)
	dirty := int64(-1) // end of the last chunk that held non-zero bytes
	for off := end; off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return err
		}
		for _, b := range buf[:n] {
			if b != 0 {
				dirty = off + n
				break
			}
		}
	}
	if dirty < 0 {
		return nil
	}
	clear(buf)
	for off := end; off < dirty; off += int64(len(buf)) {
		n := min(int64(len(buf)), dirty-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// replay applies a record read from the log to the index. Records were validated when
// they were written; what does not fit is corruption.
func (c *committer) replay(r record, l loc) error {
	s := c.index[r.id]
	if s == nil {
		if r.typ != recEpoch {
			return fmt.Errorf("section %s: record before its first activation: %w", r.id, errCorrupt)
		}
		s = &section{}
		c.index[r.id] = s
	}
	switch r.typ {
	case recEpoch:
		if r.epoch <= s.epoch {
			return fmt.Errorf("section %s: epoch %d after %d: %w", r.id, r.epoch, s.epoch, errCorrupt)
		}
		s.epoch = r.epoch
	case recEvents:
		switch {
		case r.epoch > s.epoch:
			return fmt.Errorf("section %s: events of epoch %d, section at %d: %w", r.id, r.epoch, s.epoch, errCorrupt)
		case r.first == s.lastSeq+1:
		case s.lastSeq == s.snapSeq && s.snap.n > 0 && r.first <= s.snapSeq && r.last > s.snapSeq:
			// A checkpoint's record that straddles its snapshot.
		default:
			return fmt.Errorf("section %s: events %d..%d after %d: %w", r.id, r.first, r.last, s.lastSeq, errCorrupt)
		}
		s.lastSeq = r.last
		s.evs = append(s.evs, evRec{loc: l, first: r.first, last: r.last})
	case recSnapshot:
		switch {
		case r.epoch > s.epoch || r.seq < s.snapSeq:
			return fmt.Errorf("section %s: snapshot at %d of epoch %d: %w", r.id, r.seq, r.epoch, errCorrupt)
		case r.seq > s.lastSeq:
			// Only a checkpoint writes a snapshot before the events it covers are known.
			if len(s.evs) != 0 {
				return fmt.Errorf("section %s: snapshot at %d beyond %d: %w", r.id, r.seq, s.lastSeq, errCorrupt)
			}
			s.lastSeq = r.seq
		}
		s.snap, s.snapSeq = l, r.seq
		s.evs = dropCovered(s.evs, r.seq)
	}
	return nil
}

// dropCovered returns the records with events after seq (a new slice).
func dropCovered(evs []evRec, seq uint64) []evRec {
	var out []evRec
	for _, e := range evs {
		if e.last > seq {
			out = append(out, e)
		}
	}
	return out
}

// ---- the SectionStore API ----

func fenced(id ticketview.SectionID, epoch, current uint64) error {
	return fmt.Errorf("journalfile: section %s: epoch %d, current %d: %w", id, epoch, current, ticketview.ErrFenced)
}

// view is what a reader needs to load a section: where its snapshot and events are.
type view struct {
	gen     uint64
	snap    loc
	snapSeq uint64
	lastSeq uint64
	evs     []evRec
}

// Activate takes the section's next epoch (an EPOCH record, durable before it returns)
// and returns it with the latest snapshot and the events after it.
func (s *Store) Activate(ctx context.Context, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent, error) {
	r := &request{kind: reqActivate, id: id}
	if err := s.do(ctx, r); err != nil {
		return 0, nil, nil, err
	}
	v := r.view
	for {
		snap, evs, err := s.load(id, v)
		if !errors.Is(err, errStale) {
			if err != nil {
				return 0, nil, nil, err
			}
			return r.epoch, snap, evs, nil
		}
		// A compaction moved the records meanwhile: ask where they are now.
		lr := &request{kind: reqLocate, id: id}
		if err := s.do(ctx, lr); err != nil {
			return 0, nil, nil, err
		}
		v = lr.view
	}
}

var errStale = errors.New("journalfile: stale view")

func (s *Store) load(id ticketview.SectionID, v view) (*ticketview.SectionSnapshot, []ticketview.SectionEvent, error) {
	s.filesMu.RLock()
	defer s.filesMu.RUnlock()
	if v.gen != s.gen {
		return nil, nil, errStale
	}
	if s.closed.Load() && len(s.files) == 0 {
		return nil, nil, errClosed
	}
	read := func(l loc) (record, error) {
		f := s.files[l.seg]
		if f == nil {
			return record{}, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: segment %d missing", id, l.seg)
		}
		buf := make([]byte, l.n)
		if _, err := f.ReadAt(buf, l.off); err != nil {
			return record{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "journalfile: read section %s: %v", id, err)
		}
		p, ok := checkFrame(buf)
		var rec record
		if ok {
			rec, ok = decodePayload(p)
		}
		if !ok || rec.id != id {
			return record{}, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: corrupt record at segment %d offset %d", id, l.seg, l.off)
		}
		return rec, nil
	}
	var snap *ticketview.SectionSnapshot
	if v.snap.n > 0 {
		rec, err := read(v.snap)
		if err != nil {
			return nil, nil, err
		}
		snap = new(ticketview.SectionSnapshot)
		if err := json.Unmarshal(rec.data, snap); err != nil || rec.typ != recSnapshot || snap.Seq != v.snapSeq {
			return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: corrupt snapshot", id)
		}
	}
	next := v.snapSeq + 1
	var evs []ticketview.SectionEvent
	if v.lastSeq > v.snapSeq {
		evs = make([]ticketview.SectionEvent, 0, v.lastSeq-v.snapSeq)
	}
	for _, l := range v.evs {
		rec, err := read(l.loc)
		if err != nil {
			return nil, nil, err
		}
		batch, err := ticketview.UnmarshalEvents(rec.data)
		if err != nil || rec.typ != recEvents || len(batch) == 0 || batch[0].Seq != rec.first || batch[len(batch)-1].Seq != rec.last {
			return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: corrupt events record at %d", id, l.first)
		}
		for _, e := range batch {
			if e.Seq < next {
				continue // covered by the snapshot
			}
			if e.Seq != next {
				return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: journal gap: event %d where %d was due", id, e.Seq, next)
			}
			evs = append(evs, e)
			next++
		}
	}
	if next-1 != v.lastSeq {
		return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: journal ends at %d, index at %d", id, next-1, v.lastSeq)
	}
	return snap, evs, nil
}

// Append durably adds events (consecutive Seq, following the journal's last) to the
// section's journal. It fails with ErrFenced, writing nothing, when epoch is not the
// section's current one; with EINTERNAL when the Seqs do not follow on; with
// EUNAVAILABLE when the group commit failed.
func (s *Store) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) error {
	return s.AppendAsync(ctx, id, epoch, events)()
}

// AppendAsync queues an Append and returns a function that waits for its outcome.
// Appends are applied in the order they were queued, so a section's owner may pipeline
// them. ctx governs both queueing and waiting.
func (s *Store) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) (wait func() error) {
	r := &request{kind: reqAppend, id: id, epoch: epoch}
	if len(events) > 0 {
		r.first, r.last = events[0].Seq, events[len(events)-1].Seq
		for i := range events {
			if events[i].Seq != r.first+uint64(i) || events[i].Seq == 0 {
				err := ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: append of non-consecutive seqs %d..%d", id, r.first, r.last)
				return func() error { return err }
			}
		}
		r.rec = encodeEventsRecord(id, epoch, events)
	}
	if err := s.submit(ctx, r); err != nil {
		return func() error { return err }
	}
	return func() error { return s.await(ctx, r) }
}

// SaveSnapshot stores the section's snapshot; the journal records it covers are
// forgotten. Fenced like Append; a snapshot beyond the journal's end or older than the
// stored one is refused with EINTERNAL.
func (s *Store) SaveSnapshot(ctx context.Context, id ticketview.SectionID, epoch uint64, snap *ticketview.SectionSnapshot) error {
	if snap == nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: nil snapshot", id)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "journalfile: section %s: encode snapshot: %v", id, err)
	}
	r := &request{kind: reqSnapshot, id: id, epoch: epoch, first: snap.Seq,
		rec: encodeSnapshotRecord(id, epoch, snap.Seq, data)}
	return s.do(ctx, r)
}

// JournalRecords counts the events records the section keeps after its snapshot. It
// implements storetest.JournalCounter.
func (s *Store) JournalRecords(ctx context.Context, id ticketview.SectionID) (int, error) {
	r := &request{kind: reqLocate, id: id}
	if err := s.do(ctx, r); err != nil {
		return 0, err
	}
	return len(r.view.evs), nil
}

// Stats counts the committer's work since Open.
type Stats struct {
	Commits     uint64 // group commits (batches with at least one live request)
	Requests    uint64 // requests in them
	Syncs       uint64 // fdatasyncs of the log
	Compactions uint64 // checkpoints tried
}

func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Requests: s.requests.Load(), Syncs: s.syncs.Load(), Compactions: s.c.compactions.Load()}
}
