package journalfile

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/ticketview/ticketview"
)

// Record framing: [length u32 LE][crc32c u32 LE][payload], length = len(payload) > 0.
// payload = [type u8][event string][section string][type-specific fields], strings as
// uvarint length + bytes, numbers as uvarints:
//
//	EPOCH:    epoch
//	EVENTS:   epoch, first seq, last seq, ticketview.MarshalEvents(events)
//	SNAPSHOT: epoch, seq, JSON of the SectionSnapshot
//
// A length of zero is never written: it is the zeroes of a preallocated segment's unused
// tail, the end of the log.
const (
	recEpoch    byte = 1
	recEvents   byte = 2
	recSnapshot byte = 3

	headerSize = 8
	maxRecord  = 1 << 30 // a length beyond this is garbage
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// beginRecord appends a header placeholder and the common payload prefix to buf and
// returns the buffer and the offset of the header.
func beginRecord(buf []byte, typ byte, id ticketview.SectionID) ([]byte, int) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	buf = appendString(buf, id.Event)
	buf = appendString(buf, id.Section)
	return buf, start
}

// endRecord fills in the header of the record that starts at start.
func endRecord(buf []byte, start int) []byte {
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendEpochRecord(buf []byte, id ticketview.SectionID, epoch uint64) []byte {
	buf, start := beginRecord(buf, recEpoch, id)
	buf = binary.AppendUvarint(buf, epoch)
	return endRecord(buf, start)
}

func encodeEventsRecord(id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) []byte {
	buf, start := beginRecord(make([]byte, 0, 64+len(id.Event)+len(id.Section)+96*len(events)), recEvents, id)
	buf = binary.AppendUvarint(buf, epoch)
	buf = binary.AppendUvarint(buf, events[0].Seq)
	buf = binary.AppendUvarint(buf, events[len(events)-1].Seq)
	buf = ticketview.MarshalEvents(buf, events)
	return endRecord(buf, start)
}

func encodeSnapshotRecord(id ticketview.SectionID, epoch, seq uint64, data []byte) []byte {
	buf, start := beginRecord(make([]byte, 0, 64+len(id.Event)+len(id.Section)+len(data)), recSnapshot, id)
	buf = binary.AppendUvarint(buf, epoch)
	buf = binary.AppendUvarint(buf, seq)
	buf = append(buf, data...)
	return endRecord(buf, start)
}

// record is a decoded payload. data is the events encoding or the snapshot JSON; it
// aliases the payload.
type record struct {
	typ         byte
	id          ticketview.SectionID
	epoch       uint64
	first, last uint64 // EVENTS
	seq         uint64 // SNAPSHOT
	data        []byte
}

// checkFrame verifies a framed record (header and payload) and returns its payload.
func checkFrame(b []byte) ([]byte, bool) {
	if len(b) < headerSize {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || int64(n) != int64(len(b)-headerSize) {
		return nil, false
	}
	p := b[headerSize:]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, false
	}
	return p, true
}

type payloadDecoder struct {
	b  []byte
	ok bool
}

func (d *payloadDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.ok = false
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *payloadDecoder) string() string {
	n := d.uvarint()
	if !d.ok || n > uint64(len(d.b)) {
		d.ok = false
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodePayload decodes a record's payload (already checked by CRC).
func decodePayload(p []byte) (record, bool) {
	var r record
	if len(p) == 0 {
		return r, false
	}
	d := payloadDecoder{b: p[1:], ok: true}
	r.typ = p[0]
	r.id.Event = d.string()
	r.id.Section = d.string()
	r.epoch = d.uvarint()
	switch r.typ {
	case recEpoch:
		if len(d.b) != 0 {
			return r, false
		}
	case recEvents:
		r.first = d.uvarint()
		r.last = d.uvarint()
		r.data = d.b
		if r.first == 0 || r.last < r.first {
			return r, false
		}
	case recSnapshot:
		r.seq = d.uvarint()
		r.data = d.b
	default:
		return r, false
	}
	return r, d.ok
}
