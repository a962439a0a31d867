// Package pack packs application records into ring payloads, fragments the records that
// do not fit in one, and reassembles them on delivery.
//
// The ordering protocol below (package ring) sequences opaque payloads of at most
// MaxPayload bytes, roughly one datagram each. Applications send records of any size, from
// a few bytes to a megabyte. A Packer on the sending node turns its FIFO of records into as
// few payloads as possible: many small records share one payload, a large one is cut into
// fragments that travel in consecutive payloads of the same sender. An Assembler on every
// node undoes this: fed each delivered payload with its sender, it returns the records the
// payload completes, in the sender's order.
//
// Both are pure code: no goroutines, no I/O, no clocks, and not safe for concurrent use.
// The caller (the node's event loop) decides when to call Packer.Next, typically on every
// token visit for as many payloads as flow control allows, so whatever was queued since the
// last visit leaves in as few datagrams as possible.
//
// # Payload format (version 1)
//
// All integers are unsigned varints (encoding/binary.Uvarint), except the first two bytes.
//
//	version   1 byte   1
//	flags     1 byte   First (0x01), Cont (0x02), Last (0x04); other bits zero
//	count     uvarint  number of pieces, at least 1
//	if Cont:  id uvarint, offset uvarint
//	          the fragmented record that piece 0 continues, and the number of its bytes
//	          carried by earlier payloads
//	if First: id uvarint, total uvarint
//	          the fragmented record that the last piece begins, and its full length
//	pieces    count × (length uvarint, length bytes)
//
// A piece is a whole record unless the flags say otherwise:
//
//   - Cont: piece 0 continues the sender's open fragmented record. With Last it is the
//     final fragment (offset+length equals the total announced by First) and more pieces may
//     follow; without Last it is a middle fragment and the only piece of the payload.
//   - First: the last piece is the first fragment of a new record, shorter than its total.
//     With Cont as well, the payload has at least two pieces.
//
// Overhead: 3 header bytes per payload, and 1 length byte per record under 128 bytes (2
// under 16 KiB); a fragmented record adds a few bytes of id, offset and total per payload.
//
// So a payload looks like [tail of X][whole records…][head of Y], each part optional. The
// redundancy (id, offset, total, Last) is cheap, a few bytes on fragment payloads only,
// and lets the Assembler refuse to glue a fragment onto the wrong record: a continuation
// whose start it never saw (it came before Forget), a gap inside a record, or a record
// abandoned half way all show up as a mismatch. Nothing after the last piece is allowed.
//
// Fragment ids count up per Packer from 1 (wrapping, never 0). They only need to differ
// between consecutive fragmented records of one sender.
//
// # Packing policy
//
// Next fills each payload: whole records in FIFO order while they fit, then, if the next
// record does not fit in what is left, its first fragment fills the rest, provided at
// least MinFragment bytes of it fit (a smaller head would cost about as much in headers as
// it saves). So a payload that does not empty the queue wastes less than MinFragment bytes
// plus a fragment header (a dozen bytes at most), and records shorter than MinFragment
// are never cut.
//
// A record of up to MaxUnfragmented bytes could instead wait for the next payload and
// travel whole. Filling wastes less and costs no latency: either way the record is
// complete exactly when that next payload is delivered. Records are never reordered, and
// Next never waits for more records: a lone small record leaves at once in a small payload.
//
// # Configuration changes
//
// Within one configuration the ring delivers each sender's payloads in order with no gap.
// When a sender leaves, call Assembler.Forget: its partial record is dropped, and if it
// reappears mid-stream, its continuations are refused (with an error wrapping
// ErrBrokenStream) until it begins a fresh record. Whole records in such a payload are
// still delivered; they are intact.
package pack
