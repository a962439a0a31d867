package pack

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Version is the payload format version written in the first byte of every payload.
const Version = 1

// Flags in the second byte of a payload; see the package documentation.
const (
	flagFirst byte = 0x01 // the last piece begins a fragmented record
	flagCont  byte = 0x02 // piece 0 continues the sender's open fragmented record
	flagLast  byte = 0x04 // with flagCont: piece 0 finishes that record
	flagsAll       = flagFirst | flagCont | flagLast
)

const (
	// DefaultMaxRecord is the record size limit used when none is given: 1 MiB, as in
	// Corosync, big enough for any sane message and small enough to buffer per sender.
	DefaultMaxRecord = 1 << 20

	// MaxRecordLimit caps maxRecord so that offsets and totals stay far from overflow.
	MaxRecordLimit = 1 << 30

	// MinPayload is the smallest maxPayload a Packer accepts. The largest header a
	// payload can need (a continuation plus a first fragment) is under 32 bytes, so 64
	// bytes leave room for progress in every state; real payloads are about 1400.
	MinPayload = 64

	// MinFragment is the smallest first fragment Next puts behind other records. Below
	// it the fragment headers would cost about as much as the space saved.
	MinFragment = 64

	// baseHeader is version, flags and a one-byte count.
	baseHeader = 3
)

var (
	// ErrRecordTooLarge reports a record above the configured maximum, on either side.
	ErrRecordTooLarge = errors.New("pack: record too large")
	// ErrMalformed reports a payload that cannot be parsed; none of its records is used.
	ErrMalformed = errors.New("pack: malformed payload")
	// ErrBrokenStream reports a fragment that does not continue the sender's open record
	// (or an open record abandoned by a fresh payload); the fragment is discarded.
	ErrBrokenStream = errors.New("pack: broken fragment stream")
)

// RecordTooLargeError is returned by Packer.Add for a record above the packer's limit.
type RecordTooLargeError struct {
	Size, Max int
}

// Error says how large the record was and what the limit is.
func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("pack: record of %d bytes exceeds the %d-byte limit", e.Size, e.Max)
}

// Unwrap returns ErrRecordTooLarge, so errors.Is matches the sentinel.
func (e *RecordTooLargeError) Unwrap() error { return ErrRecordTooLarge }

// PayloadError describes what Assembler.Payload had to discard from one sender's payload.
// Err is one of ErrMalformed, ErrBrokenStream and ErrRecordTooLarge.
type PayloadError struct {
	From   wire.NodeID
	Err    error
	Detail string
}

// Error names the cause, the sender and what was wrong.
func (e *PayloadError) Error() string {
	return fmt.Sprintf("%v from node %v: %s", e.Err, e.From, e.Detail)
}

// Unwrap returns Err, so errors.Is matches ErrMalformed and the other sentinels.
func (e *PayloadError) Unwrap() error { return e.Err }

// uvarintLen is the encoded size of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// pieceLen is the encoded size of a piece of n bytes: its length prefix and the bytes.
func pieceLen(n int) int { return uvarintLen(uint64(n)) + n }

// fit returns the largest piece size k ≤ n whose encoding fits in space bytes, or 0.
func fit(space, n int) int {
	k := min(space-1, n)
	for k > 0 && pieceLen(k) > space {
		k--
	}
	return max(k, 0)
}
