package journalfile

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ticketview/ticketview"
)

// needCompaction reports whether the sealed segments are worth a checkpoint: more than
// CompactMin bytes and more than CompactRatio times the live data. It is checked when
// the sealed size changed (after a segment switch).
func (c *committer) needCompaction() bool {
	if c.sealed <= c.s.opts.CompactMin || c.sealed == c.checkedSealed {
		return false
	}
	c.checkedSealed = c.sealed
	var live int64
	for _, st := range c.index {
		live += st.liveBytes()
	}
	return c.sealed > c.s.opts.CompactRatio*live
}

// Compact writes a checkpoint now, whatever the sizes (for tests and operators). It runs
// in the committer, between two group commits.
func (s *Store) Compact() error {
	var err error
	r := &request{kind: reqLocate}
	r.fn = func() { err = s.c.compact() }
	if derr := s.do(bg, r); derr != nil {
		return derr
	}
	return err
}

// compact writes a checkpoint of the index as a new generation and switches to it:
//
//  1. the new generation's directory gets segments with, for every section, an EPOCH
//     record, its latest SNAPSHOT (copied) and its EVENTS records after it (copied),
//     then a fresh segment for the appends to come; all fsynced, and the directory;
//  2. MANIFEST names the new generation (write, fsync, rename, fsync the directory):
//     from here on, Open uses the checkpoint;
//  3. the old generation is deleted.
//
// A crash before 2 leaves the old generation live (Open deletes the unfinished one); a
// crash after 2 leaves an old generation that Open deletes. A failure before 2 leaves the
// store as it was; a failure at or after 2 breaks it.
func (c *committer) compact() error {
	s := c.s
	c.compactions.Add(1)
	newGen := s.gen + 1
	gdir := s.genDir(newGen)
	abandon := func(err error) error {
		os.RemoveAll(gdir)
		return fmt.Errorf("journalfile: compaction: %w", err)
	}
	if err := os.RemoveAll(gdir); err != nil {
		return abandon(err)
	}
	if err := os.Mkdir(gdir, 0o755); err != nil {
		return abandon(err)
	}
	w := &ckptWriter{dir: gdir, segSize: s.opts.SegmentSize, files: map[uint32]*os.File{}}
	closeNew := func() {
		for _, f := range w.files {
			f.Close()
		}
	}

	ids := make([]ticketview.SectionID, 0, len(c.index))
	for id := range c.index {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ticketview.SectionID) int {
		return cmp.Or(cmp.Compare(a.Event, b.Event), cmp.Compare(a.Section, b.Section))
	})
	index := make(map[ticketview.SectionID]*section, len(ids))
	var raw []byte
	copyRec := func(l loc) (loc, error) {
		f := s.files[l.seg] // the committer is the only one that changes s.files
		if f == nil {
			return loc{}, fmt.Errorf("segment %d missing", l.seg)
		}
		if int64(cap(raw)) < l.n {
			raw = make([]byte, l.n)
		}
		raw = raw[:l.n]
		if _, err := f.ReadAt(raw, l.off); err != nil {
			return loc{}, err
		}
		if _, ok := checkFrame(raw); !ok {
			return loc{}, fmt.Errorf("corrupt record at segment %d offset %d", l.seg, l.off)
		}
		return w.add(raw)
	}
	for _, id := range ids {
		old := c.index[id]
		st := &section{epoch: old.epoch, lastSeq: old.lastSeq, snapSeq: old.snapSeq}
		if _, err := w.add(appendEpochRecord(raw[:0], id, old.epoch)); err != nil {
			closeNew()
			return abandon(err)
		}
		if old.snap.n > 0 {
			l, err := copyRec(old.snap)
			if err != nil {
				closeNew()
				return abandon(err)
			}
			st.snap = l
		}
		for _, e := range old.evs {
			l, err := copyRec(e.loc)
			if err != nil {
				closeNew()
				return abandon(err)
			}
			st.evs = append(st.evs, evRec{loc: l, first: e.first, last: e.last})
		}
		index[id] = st
	}
	if err := w.finish(); err != nil {
		closeNew()
		return abandon(err)
	}
	active := w.seg + 1
	f, size, err := c.newSegment(gdir, active, 0) // fsyncs gdir: the checkpoint files too
	if err != nil {
		closeNew()
		return abandon(err)
	}
	w.files[active] = f
	if err := syncDir(s.dir); err != nil {
		closeNew()
		return abandon(err)
	}
	if err := s.writeManifest(newGen); err != nil {
		// The rename may or may not have happened: which generation is live is unknown
		// until the next Open, so nothing more may be written.
		closeNew()
		c.broken = ticketview.Errorf(ticketview.EUNAVAILABLE, "journalfile: compaction failed to switch generations, the store is closed for writes: %v", err)
		return c.broken
	}

	oldGen := s.gen
	s.filesMu.Lock() // waits for readers of the old generation
	oldFiles := s.files
	s.files, s.gen = w.files, newGen
	s.filesMu.Unlock()
	for _, f := range oldFiles {
		f.Close()
	}
	c.index = index
	c.seg, c.end, c.segCap = active, 0, size
	c.sealed, c.checkedSealed = w.total, w.total
	if err := os.RemoveAll(s.genDir(oldGen)); err != nil {
		return fmt.Errorf("journalfile: compaction: remove generation %d: %w", oldGen, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("journalfile: compaction: %w", err)
	}
	return nil
}

// ckptWriter writes a checkpoint's records into segments of about segSize bytes.
type ckptWriter struct {
	dir     string
	segSize int64
	files   map[uint32]*os.File
	seg     uint32
	f       *os.File
	off     int64
	buf     []byte
	total   int64
}

func (w *ckptWriter) add(rec []byte) (loc, error) {
	n := int64(len(rec))
	if w.f == nil || w.off+n > w.segSize && w.off > 0 {
		if err := w.next(); err != nil {
			return loc{}, err
		}
	}
	l := loc{seg: w.seg, off: w.off, n: n}
	w.buf = append(w.buf, rec...)
	w.off += n
	w.total += n
	if len(w.buf) >= 1<<20 {
		if err := w.flush(); err != nil {
			return loc{}, err
		}
	}
	return l, nil
}

func (w *ckptWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.f.WriteAt(w.buf, w.off-int64(len(w.buf)))
	w.buf = w.buf[:0]
	return err
}

func (w *ckptWriter) next() error {
	if w.f != nil {
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	w.seg++
	f, err := os.OpenFile(filepath.Join(w.dir, segName(w.seg)), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	w.files[w.seg] = f
	w.f, w.off = f, 0
	return nil
}

func (w *ckptWriter) finish() error {
	if w.f == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.f.Sync()
}
