package pack

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Assembler reassembles records from the payloads of many senders, delivered in total
// order. It keeps one partial record per sender with a fragmented record in flight, of at
// most maxRecord bytes, allocated once at its announced size. The zero Assembler is not
// usable; call NewAssembler.
type Assembler struct {
	maxRecord int
	partial   map[wire.NodeID]partial

	pieces [][]byte // scratch: the pieces of the payload being decoded
	out    [][]byte // scratch: the records returned by the last call to Payload
}

// partial is a fragmented record being reassembled.
type partial struct {
	id  uint32
	buf []byte // len: bytes received so far; cap: the record's total length
}

// NewAssembler returns an Assembler accepting records of at most maxRecord bytes
// (DefaultMaxRecord when maxRecord ≤ 0). It should match the senders' Packer limit.
func NewAssembler(maxRecord int) *Assembler {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	return &Assembler{maxRecord: maxRecord, partial: make(map[wire.NodeID]partial)}
}

// Forget drops the partial record of a sender. Its next payloads must begin fresh
// records; stray continuations are refused.
func (a *Assembler) Forget(from wire.NodeID) { delete(a.partial, from) }

// Reset drops every sender's partial record, as Forget for each.
func (a *Assembler) Reset() { clear(a.partial) }

// Payload takes the next payload delivered from a sender and returns the records it
// completes, in the sender's order.
//
// Whole records alias payload (with their capacity clipped, so appending to one cannot
// overwrite the next); reassembled records are fresh. The returned slice itself is reused
// by the next call to Payload: copy it if you keep it.
//
// A payload that cannot be parsed returns no records and an error wrapping ErrMalformed,
// and the sender's partial record is dropped. A parsable payload whose fragment does not
// fit the sender's stream (ErrBrokenStream) or announces a record above the limit
// (ErrRecordTooLarge) loses that fragment and the partial record, but its whole records
// are intact and returned alongside the error. The error is a *PayloadError.
func (a *Assembler) Payload(from wire.NodeID, payload []byte) ([][]byte, error) {
	h, detail := a.decode(payload)
	if detail != "" {
		delete(a.partial, from)
		return nil, &PayloadError{From: from, Err: ErrMalformed, Detail: detail}
	}
	a.out = a.out[:0]
	pieces := a.pieces
	err := a.continueRecord(from, h, pieces)
	if h.flags&flagCont != 0 {
		pieces = pieces[1:]
	}
	var first []byte
	if h.flags&flagFirst != 0 {
		first, pieces = pieces[len(pieces)-1], pieces[:len(pieces)-1]
	}
	for _, rec := range pieces {
		if len(rec) > a.maxRecord {
			err = keepFirst(err, a.tooLarge(from, len(rec)))
			continue
		}
		a.out = append(a.out, rec)
	}
	if first != nil {
		err = keepFirst(err, a.startRecord(from, h, first))
	}
	return a.out, err
}

// header is the decoded fixed part of a payload.
type header struct {
	flags      byte
	contID     uint32
	contOffset uint64
	firstID    uint32
	firstTotal uint64
}

// decode parses payload into a header and a.pieces. It checks the structure only, not the
// sender's stream; a non-empty detail says why the payload is malformed.
func (a *Assembler) decode(payload []byte) (header, string) {
	var h header
	if len(payload) < baseHeader {
		return h, "truncated header"
	}
	if payload[0] != Version {
		return h, fmt.Sprintf("unknown version %d", payload[0])
	}
	h.flags = payload[1]
	r := reader{b: payload, off: 2}
	count := r.uvarint()
	if r.bad {
		return h, "bad count"
	}
	if detail := checkFlags(h.flags, count); detail != "" {
		return h, detail
	}
	if h.flags&flagCont != 0 {
		h.contID, h.contOffset = r.uint32(), r.uvarint()
	}
	if h.flags&flagFirst != 0 {
		h.firstID, h.firstTotal = r.uint32(), r.uvarint()
	}
	if r.bad {
		return h, "truncated or oversized fragment header"
	}
	if count > uint64(len(payload)-r.off) {
		return h, fmt.Sprintf("count %d exceeds the payload", count)
	}
	return h, a.decodePieces(&r, int(count))
}

// checkFlags rejects flag combinations and counts the packer never produces.
func checkFlags(flags byte, count uint64) string {
	switch {
	case flags&^flagsAll != 0:
		return fmt.Sprintf("unknown flags %#x", flags)
	case count == 0:
		return "no pieces"
	case flags&flagLast != 0 && flags&flagCont == 0:
		return "last fragment without continuation"
	case flags&flagCont != 0 && flags&flagLast == 0 && (count != 1 || flags&flagFirst != 0):
		return "middle fragment shares its payload"
	case flags&(flagCont|flagFirst) == flagCont|flagFirst && count < 2:
		return "one piece both ends and begins a record"
	}
	return ""
}

// decodePieces reads count length-prefixed pieces into a.pieces, each aliasing the payload
// with its capacity clipped, and insists that they end exactly where the payload does.
func (a *Assembler) decodePieces(r *reader, count int) string {
	a.pieces = a.pieces[:0]
	for range count {
		n := r.uvarint()
		if r.bad {
			return "fewer pieces than count"
		}
		if n > uint64(len(r.b)-r.off) {
			return fmt.Sprintf("piece of %d bytes beyond the payload", n)
		}
		end := r.off + int(n)
		a.pieces = append(a.pieces, r.b[r.off:end:end])
		r.off = end
	}
	if r.off != len(r.b) {
		return fmt.Sprintf("%d bytes after the last of %d pieces", len(r.b)-r.off, count)
	}
	return ""
}

// continueRecord applies piece 0 of a payload to the sender's open record. Without
// flagCont a still-open record was abandoned (its sender restarted), so it is dropped.
func (a *Assembler) continueRecord(from wire.NodeID, h header, pieces [][]byte) error {
	p, open := a.partial[from]
	if h.flags&flagCont == 0 {
		if !open {
			return nil
		}
		delete(a.partial, from)
		return a.broken(from, "record %d abandoned: payload does not continue it", p.id)
	}
	if detail := p.mismatch(open, h, len(pieces[0])); detail != "" {
		delete(a.partial, from)
		return a.broken(from, "%s", detail)
	}
	p.buf = append(p.buf, pieces[0]...)
	if h.flags&flagLast == 0 {
		a.partial[from] = p
		return nil
	}
	delete(a.partial, from)
	a.out = append(a.out, p.buf)
	return nil
}

// mismatch says why a continuation of n bytes does not extend p, or returns "".
func (p partial) mismatch(open bool, h header, n int) string {
	switch end := uint64(len(p.buf)) + uint64(n); {
	case !open:
		return fmt.Sprintf("continuation of record %d without its start", h.contID)
	case h.contID != p.id:
		return fmt.Sprintf("continuation of record %d, but record %d is open", h.contID, p.id)
	case h.contOffset != uint64(len(p.buf)):
		return fmt.Sprintf("record %d continues at %d, have %d bytes", p.id, h.contOffset, len(p.buf))
	case end > uint64(cap(p.buf)):
		return fmt.Sprintf("record %d grows to %d bytes, announced %d", p.id, end, cap(p.buf))
	case (end == uint64(cap(p.buf))) != (h.flags&flagLast != 0):
		return fmt.Sprintf("record %d: last-fragment flag disagrees with %d of %d bytes", p.id, end, cap(p.buf))
	}
	return ""
}

// startRecord opens the sender's next fragmented record with its first piece, allocating
// its announced total at once (at most maxRecord), so that it never grows by copying.
func (a *Assembler) startRecord(from wire.NodeID, h header, piece []byte) error {
	if h.firstTotal > uint64(a.maxRecord) {
		return a.tooLarge(from, int(min(h.firstTotal, math.MaxInt)))
	}
	if uint64(len(piece)) >= h.firstTotal {
		return a.broken(from, "first fragment of record %d holds %d of %d bytes", h.firstID, len(piece), h.firstTotal)
	}
	buf := make([]byte, len(piece), h.firstTotal)
	copy(buf, piece)
	a.partial[from] = partial{id: h.firstID, buf: buf}
	return nil
}

func (a *Assembler) broken(from wire.NodeID, format string, args ...any) error {
	return &PayloadError{From: from, Err: ErrBrokenStream, Detail: fmt.Sprintf(format, args...)}
}

func (a *Assembler) tooLarge(from wire.NodeID, size int) error {
	detail := fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", size, a.maxRecord)
	return &PayloadError{From: from, Err: ErrRecordTooLarge, Detail: detail}
}

// keepFirst keeps the first of the errors found in one payload: it names the first thing
// discarded, and later ones usually follow from it.
func keepFirst(err, next error) error {
	if err != nil {
		return err
	}
	return next
}

// reader reads uvarints from a payload, remembering the first failure instead of
// returning it from every call.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.off += n
	return v
}

func (r *reader) uint32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.bad = true
	}
	return uint32(v)
}
