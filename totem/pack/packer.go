package pack

import (
	"encoding/binary"
	"fmt"
)

// Packer turns a FIFO of records into payloads of at most maxPayload bytes.
//
// Add queues records; Next returns the next payload to hand to the ring. A record is
// "pending" from Add until Next has emitted its last byte. The zero Packer is not usable;
// call NewPacker.
type Packer struct {
	maxPayload int
	maxRecord  int

	queue [][]byte // records not yet fully emitted; queue[head] is the oldest
	head  int
	bytes int // bytes of queued records not yet emitted

	sent   int    // bytes of queue[head] already emitted (> 0: its fragments are in flight)
	id     uint32 // fragment id of queue[head] when sent > 0
	nextID uint32 // fragment id for the next record that needs fragmenting
}

// NewPacker returns a Packer producing payloads of at most maxPayload bytes and accepting
// records of at most maxRecord bytes (DefaultMaxRecord when maxRecord ≤ 0).
//
// maxPayload must be at least MinPayload; it is the ring's payload budget, the transport's
// MaxPayload minus the wire headers. maxRecord must not exceed MaxRecordLimit.
func NewPacker(maxPayload, maxRecord int) (*Packer, error) {
	if maxPayload < MinPayload {
		return nil, fmt.Errorf("pack: payload size %d below the minimum %d", maxPayload, MinPayload)
	}
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	if maxRecord > MaxRecordLimit {
		return nil, fmt.Errorf("pack: record limit %d above %d", maxRecord, MaxRecordLimit)
	}
	return &Packer{maxPayload: maxPayload, maxRecord: maxRecord, nextID: 1}, nil
}

// MaxUnfragmented is the largest record that can travel whole in one payload. Larger
// records are always fragmented; smaller ones may be split across two payloads when they
// arrive behind others (see "Packing policy" in the package documentation).
func (p *Packer) MaxUnfragmented() int {
	return min(fit(p.maxPayload-baseHeader, p.maxPayload), p.maxRecord)
}

// Add queues a record. It does not copy: the packer keeps the slice until Next has
// emitted the record's last byte, and the caller must not modify it after Add. A record
// above the packer's limit is refused with a *RecordTooLargeError (ErrRecordTooLarge).
// Empty records are allowed and arrive as empty records.
func (p *Packer) Add(record []byte) error {
	if len(record) > p.maxRecord {
		return &RecordTooLargeError{Size: len(record), Max: p.maxRecord}
	}
	p.queue = append(p.queue, record)
	p.bytes += len(record)
	return nil
}

// Reset drops every queued record, including one partly emitted. The next record that
// needs fragmenting gets a fresh fragment id, so that continuations of an abandoned record
// still in flight can never be taken for its own. The node uses it after a
// configuration change to re-pack, from scratch, everything it has not seen delivered.
func (p *Packer) Reset() {
	clear(p.queue)
	p.queue, p.head, p.bytes, p.sent = p.queue[:0], 0, 0, 0
	p.nextID = nextFragmentID(p.nextID)
}

// Pending is the number of records not yet fully emitted, including one whose first
// fragments have already left. Use it (or PendingBytes) for backpressure.
func (p *Packer) Pending() int { return len(p.queue) - p.head }

// PendingBytes is the number of record bytes not yet emitted (headers not counted).
func (p *Packer) PendingBytes() int { return p.bytes }

// Next returns the next payload to submit, or false when nothing is queued. The payload is
// a fresh slice owned by the caller (the ring keeps it until it is safe everywhere).
func (p *Packer) Next() ([]byte, bool) {
	if p.Pending() == 0 {
		return nil, false
	}
	pl := p.plan()
	buf := make([]byte, pl.size)
	p.emit(buf, pl)
	return buf, true
}

// plan describes the payload Next is about to build.
type plan struct {
	flags    byte
	contLen  int // bytes of queue[head] carried by piece 0, when flagCont
	whole    int // whole records after it
	firstLen int // bytes of the following record carried by the last piece, when flagFirst
	count    int // pieces
	size     int // encoded size
}

// sizer adds up a payload's encoded size while plan decides what goes in.
type sizer struct {
	fixed, body, count int
}

// with is the payload size after adding extra header bytes and one piece of n bytes.
func (s sizer) with(extra, n int) int {
	return 2 + uvarintLen(uint64(s.count+1)) + s.fixed + extra + s.body + pieceLen(n)
}

func (s *sizer) add(extra, n int) {
	s.fixed += extra
	s.body += pieceLen(n)
	s.count++
}

func (s sizer) size() int { return 2 + uvarintLen(uint64(s.count)) + s.fixed + s.body }

// room is the space left for one more piece (its length prefix and bytes) after adding
// extra header bytes, in a payload of at most limit bytes.
func (s sizer) room(limit, extra int) int { return limit - s.with(extra, 0) + pieceLen(0) }

// plan decides the content of the next payload: the rest (or the next slice) of a record
// in flight, then whole records while they fit, then the head of the next record.
func (p *Packer) plan() plan {
	var pl plan
	var s sizer
	i := p.head
	if p.sent > 0 {
		pl.flags |= flagCont
		rest := len(p.queue[i]) - p.sent
		extra := uvarintLen(uint64(p.id)) + uvarintLen(uint64(p.sent))
		if s.with(extra, rest) > p.maxPayload {
			// A middle fragment: fill the payload with the next slice of the record.
			pl.contLen = fit(s.room(p.maxPayload, extra), rest)
			s.add(extra, pl.contLen)
			pl.count, pl.size = s.count, s.size()
			return pl
		}
		pl.flags |= flagLast
		pl.contLen = rest
		s.add(extra, rest)
		i++
	}
	for ; i < len(p.queue) && s.with(0, len(p.queue[i])) <= p.maxPayload; i++ {
		s.add(0, len(p.queue[i]))
		pl.whole++
	}
	if i < len(p.queue) {
		p.planFirst(&pl, &s, len(p.queue[i]))
	}
	pl.count, pl.size = s.count, s.size()
	return pl
}

// planFirst adds the first fragment of a record of n bytes that does not fit whole, if
// enough of it fits to be worth the headers; into an empty payload it always goes.
func (p *Packer) planFirst(pl *plan, s *sizer, n int) {
	extra := uvarintLen(uint64(p.nextID)) + uvarintLen(uint64(n))
	k := fit(s.room(p.maxPayload, extra), n-1)
	if k >= MinFragment || (s.count == 0 && k > 0) {
		pl.flags |= flagFirst
		pl.firstLen = k
		s.add(extra, k)
	}
}

// emit encodes the planned payload into buf and advances the queue past what it carries.
func (p *Packer) emit(buf []byte, pl plan) {
	buf[0], buf[1] = Version, pl.flags
	n := 2 + binary.PutUvarint(buf[2:], uint64(pl.count))
	if pl.flags&flagCont != 0 {
		n += binary.PutUvarint(buf[n:], uint64(p.id))
		n += binary.PutUvarint(buf[n:], uint64(p.sent))
	}
	if pl.flags&flagFirst != 0 {
		n += binary.PutUvarint(buf[n:], uint64(p.nextID))
		// The record begun by the last piece is the last one the payload touches.
		n += binary.PutUvarint(buf[n:], uint64(len(p.queue[p.head+pl.count-1])))
	}
	if pl.flags&flagCont != 0 {
		n = putPiece(buf, n, p.queue[p.head][p.sent:p.sent+pl.contLen])
		p.advance(pl.contLen)
	}
	for range pl.whole {
		n = putPiece(buf, n, p.queue[p.head])
		p.advance(len(p.queue[p.head]))
	}
	if pl.flags&flagFirst != 0 {
		putPiece(buf, n, p.queue[p.head][:pl.firstLen])
		p.id, p.nextID = p.nextID, nextFragmentID(p.nextID)
		p.advance(pl.firstLen)
	}
}

// putPiece writes a length-prefixed piece at buf[n:] and returns the new end.
func putPiece(buf []byte, n int, piece []byte) int {
	n += binary.PutUvarint(buf[n:], uint64(len(piece)))
	return n + copy(buf[n:], piece)
}

// advance records that n more bytes of queue[head] have been emitted and pops it when
// none are left, dropping the packer's reference so the caller's buffer can be freed.
func (p *Packer) advance(n int) {
	p.sent += n
	p.bytes -= n
	if p.sent < len(p.queue[p.head]) {
		return
	}
	p.queue[p.head] = nil
	p.head++
	p.sent = 0
	p.compact()
}

// compact reclaims the queue's consumed prefix once it dominates the backing array, so a
// long-lived packer's queue does not grow without bound.
func (p *Packer) compact() {
	switch {
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head >= 64 && p.head*2 >= len(p.queue):
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
}

// nextFragmentID counts fragment ids up, skipping 0 on wrap so that 0 never names a record.
func nextFragmentID(id uint32) uint32 {
	if id == ^uint32(0) {
		return 1
	}
	return id + 1
}
