package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	// Magic opens every totem datagram.
	Magic uint16 = 0x7A7E
	// Version is the wire format version this package writes and accepts.
	Version uint8 = 1
	// HeaderLen is the size of the fixed header in front of every body.
	HeaderLen = 12
)

// Sentinel errors. Every decoding error wraps exactly one of them.
var (
	ErrTruncated = errors.New("wire: truncated packet")
	ErrBadMagic  = errors.New("wire: bad magic (not a totem packet)")
	ErrVersion   = errors.New("wire: unsupported format version")
	ErrCluster   = errors.New("wire: packet from another cluster")
	ErrKind      = errors.New("wire: unknown packet kind")
	ErrMalformed = errors.New("wire: malformed packet body")
	ErrTooLarge  = errors.New("wire: packet too large")
)

// Header is the fixed part in front of every packet body.
type Header struct {
	Kind    Kind
	Cluster uint32 // ClusterHash of the cluster name
	Sender  NodeID // sending processor; never 0 on a valid packet
}

// PeekHeader parses and validates only the fixed header of b. Transports use it to learn
// the sender without decoding the body. cluster is the receiver's cluster hash.
func PeekHeader(b []byte, cluster uint32) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), HeaderLen)
	}
	if len(b) > MaxDatagram {
		return Header{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	if m := binary.BigEndian.Uint16(b[0:2]); m != Magic {
		return Header{}, fmt.Errorf("%w: %#04x", ErrBadMagic, m)
	}
	if v := b[2]; v != Version {
		return Header{}, fmt.Errorf("%w: got %d, speak %d", ErrVersion, v, Version)
	}
	h := Header{
		Kind:    Kind(b[3]),
		Cluster: binary.BigEndian.Uint32(b[4:8]),
		Sender:  NodeID(binary.BigEndian.Uint32(b[8:12])),
	}
	if h.Kind == 0 || h.Kind >= kindEnd {
		return Header{}, fmt.Errorf("%w: %d", ErrKind, b[3])
	}
	if h.Cluster != cluster {
		return Header{}, fmt.Errorf("%w: hash %#08x, want %#08x", ErrCluster, h.Cluster, cluster)
	}
	if h.Sender == 0 {
		return Header{}, fmt.Errorf("%w: sender node id 0", ErrMalformed)
	}
	return h, nil
}

// Append encodes p behind a header for the given cluster and sender and appends the result
// to dst. It fails only if the packet breaks a limit (too many members, too large).
func Append(dst []byte, cluster uint32, sender NodeID, p Packet) ([]byte, error) {
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, Magic)
	dst = append(dst, Version, byte(p.Kind()))
	dst = binary.BigEndian.AppendUint32(dst, cluster)
	dst = binary.BigEndian.AppendUint32(dst, uint32(sender))

	e := encoderPool.Get().(*encoder)
	e.w.buf = dst
	p.encodeBody(e)
	dst, err := e.w.buf, e.err
	e.w.buf, e.err = nil, nil
	encoderPool.Put(e)
	if err != nil {
		return dst[:start], err
	}
	if n := len(dst) - start; n > MaxDatagram {
		return dst[:start], fmt.Errorf("%w: %s encodes to %d bytes, max %d", ErrTooLarge, p.Kind(), n, MaxDatagram)
	}
	return dst, nil
}

// Decode validates and decodes one packet. Byte slices in the result (Mcast payloads) alias
// b, so the caller must not reuse b while the packet is in use.
func Decode(b []byte, cluster uint32) (Header, Packet, error) {
	h, err := PeekHeader(b, cluster)
	if err != nil {
		return Header{}, nil, err
	}
	p := newPacket(h.Kind)
	d := decoderPool.Get().(*decoder)
	d.reset(b[HeaderLen:])
	err = p.decodeBody(d)
	if err == nil && d.r.Len() != 0 {
		err = fmt.Errorf("%d trailing bytes", d.r.Len())
	}
	d.reset(nil)
	decoderPool.Put(d)
	if err != nil {
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
			err = fmt.Errorf("%w: %s: %w", ErrMalformed, h.Kind, err)
		}
		return Header{}, nil, err
	}
	return h, p, nil
}

// appendWriter is an io.Writer (and io.ByteWriter) appending to a slice, so that the
// msgpack encoder writes straight into the caller's buffer.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }
func (w *appendWriter) WriteByte(c byte) error      { w.buf = append(w.buf, c); return nil }
func (w *appendWriter) WriteString(s string) (int, error) {
	w.buf = append(w.buf, s...)
	return len(s), nil
}

// encoder wraps a msgpack encoder and keeps the first error, so encodeBody methods read as
// a straight list of fields.
type encoder struct {
	w   appendWriter
	enc *msgpack.Encoder
	err error
}

var encoderPool = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) arrayLen(n int) {
	if e.err == nil {
		e.fail(e.enc.EncodeArrayLen(n))
	}
}
func (e *encoder) uint(v uint64) {
	if e.err == nil {
		e.fail(e.enc.EncodeUint(v))
	}
}
func (e *encoder) bool(v bool) {
	if e.err == nil {
		e.fail(e.enc.EncodeBool(v))
	}
}
func (e *encoder) bytes(v []byte) {
	if e.err == nil {
		e.fail(e.enc.EncodeBytes(v))
	}
}
func (e *encoder) nil() {
	if e.err == nil {
		e.fail(e.enc.EncodeNil())
	}
}
func (e *encoder) ringID(r RingID) {
	e.arrayLen(2)
	e.uint(uint64(r.Rep))
	e.uint(r.Seq)
}
func (e *encoder) nodeIDs(ids []NodeID) {
	if len(ids) > MaxMembers {
		e.fail(fmt.Errorf("%w: %d node ids, max %d", ErrTooLarge, len(ids), MaxMembers))
		return
	}
	e.arrayLen(len(ids))
	for _, id := range ids {
		e.uint(uint64(id))
	}
}

// decoder wraps a msgpack decoder over a byte slice and checks every length against both
// its cap and the bytes left, before anything is allocated.
type decoder struct {
	buf []byte
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoderPool = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

func (d *decoder) reset(b []byte) {
	d.buf = b
	d.r.Reset(b)
	d.dec.Reset(&d.r)
}

func (d *decoder) wrapEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: body ends early", ErrTruncated)
	}
	return err
}

// arrayLen reads an array header and checks it holds between min and max elements.
func (d *decoder) arrayLen(min, max int) (int, error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, d.wrapEOF(err)
	}
	if n < min || n > max {
		return 0, fmt.Errorf("array of %d elements, want %d..%d", n, min, max)
	}
	// Every element takes at least one byte: a longer claim is a lie.
	if n > d.r.Len() {
		return 0, fmt.Errorf("%w: array of %d elements in %d bytes", ErrTruncated, n, d.r.Len())
	}
	return n, nil
}

// fields reads the array header of a struct body. Bodies may grow new trailing fields in
// later versions; a body with more fields than known is accepted and the extra ones skipped
// (forward compatibility), one with fewer is malformed.
func (d *decoder) fields(known int) (extra int, err error) {
	n, err := d.arrayLen(known, 64)
	if err != nil {
		return 0, err
	}
	return n - known, nil
}

// skip skips n msgpack values of any type (unknown trailing fields). It walks the input
// itself rather than calling msgpack's Skip, which reads a skipped string, bin or ext into a
// buffer it grows to the length the value claims (a 20-byte body claiming a 4 GiB bin cost
// hundreds of megabytes) and which recurses once per nesting level. Here every length is
// checked against the bytes left before it is believed, nothing is allocated, and nesting
// is a counter of values still to skip.
func (d *decoder) skip(n int) error {
	b := d.buf[len(d.buf)-d.r.Len():]
	off := 0
	// need reads the w-byte big-endian length at off.
	need := func(w int) (uint64, error) {
		if len(b)-off < w {
			return 0, fmt.Errorf("%w: skipped field ends early", ErrTruncated)
		}
		var v uint64
		for _, c := range b[off : off+w] {
			v = v<<8 | uint64(c)
		}
		off += w
		return v, nil
	}
	for pending := uint64(n); pending > 0; pending-- {
		if off >= len(b) {
			return fmt.Errorf("%w: skipped field ends early", ErrTruncated)
		}
		c := b[off]
		off++
		var size, elems uint64 // bytes of data after the header; values nested inside
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			size = uint64(c & 0x1f)
		case c == 0xc0 || c == 0xc2 || c == 0xc3: // nil, false, true
		case c >= 0xc4 && c <= 0xc6: // bin 8/16/32
			size, err = need(1 << (c - 0xc4))
		case c >= 0xc7 && c <= 0xc9: // ext 8/16/32: length, type byte, data
			size, err = need(1 << (c - 0xc7))
			size++
		case c >= 0xca && c <= 0xd3: // float32/64, uint8..64, int8..64
			size = [...]uint64{4, 8, 1, 2, 4, 8, 1, 2, 4, 8}[c-0xca]
		case c >= 0xd4 && c <= 0xd8: // fixext 1/2/4/8/16: type byte, data
			size = 1 + 1<<(c-0xd4)
		case c >= 0xd9 && c <= 0xdb: // str 8/16/32
			size, err = need(1 << (c - 0xd9))
		case c == 0xdc || c == 0xdd: // array 16/32
			elems, err = need(2 << (c - 0xdc))
		case c == 0xde || c == 0xdf: // map 16/32
			elems, err = need(2 << (c - 0xde))
			elems *= 2
		default: // 0xc1 is never used
			return fmt.Errorf("skipped field has invalid code %#02x", c)
		}
		if err != nil {
			return err
		}
		left := uint64(len(b) - off)
		// Each nested value takes at least one byte: a longer claim is a lie.
		if size > left || elems > left || pending-1+elems > left {
			return fmt.Errorf("%w: skipped field claims more than the %d bytes left", ErrTruncated, left)
		}
		off += int(size)
		pending += elems
	}
	_, err := d.r.Seek(int64(off), io.SeekCurrent)
	return err
}

func (d *decoder) uint(max uint64) (uint64, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return 0, d.wrapEOF(err)
	}
	// Accept only unsigned integer encodings (positive fixint, uint8..uint64).
	if !(c <= 0x7f || (c >= 0xcc && c <= 0xcf)) {
		return 0, fmt.Errorf("want unsigned integer, got code %#02x", c)
	}
	v, err := d.dec.DecodeUint64()
	if err != nil {
		return 0, d.wrapEOF(err)
	}
	if v > max {
		return 0, fmt.Errorf("value %d exceeds %d", v, max)
	}
	return v, nil
}

func (d *decoder) u64() (uint64, error) { return d.uint(^uint64(0)) }

func (d *decoder) u32() (uint32, error) {
	v, err := d.uint(1<<32 - 1)
	return uint32(v), err
}

func (d *decoder) nodeID() (NodeID, error) {
	v, err := d.u32()
	return NodeID(v), err
}

func (d *decoder) bool() (bool, error) {
	v, err := d.dec.DecodeBool()
	return v, d.wrapEOF(err)
}

// bytes returns a sub-slice of the input (no copy); nil when the encoded value is nil.
func (d *decoder) bytes() ([]byte, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, d.wrapEOF(err)
	}
	if c == 0xc0 {
		return nil, d.dec.DecodeNil()
	}
	// Accept only bin 8/16/32, what the encoder writes. A fixstr header is one byte shorter
	// than bin8's, so accepting strings would let a datagram decode whose re-encoding is
	// longer than it was, and can exceed MaxDatagram.
	if c < 0xc4 || c > 0xc6 {
		return nil, fmt.Errorf("want bin or nil, got code %#02x", c)
	}
	n, err := d.dec.DecodeBytesLen()
	if err != nil {
		return nil, d.wrapEOF(err)
	}
	if n < 0 || n > d.r.Len() { // n < 0: a bin32 length that overflows a 32-bit int
		return nil, fmt.Errorf("%w: %d-byte field, %d bytes left", ErrTruncated, n, d.r.Len())
	}
	off := len(d.buf) - d.r.Len()
	if _, err := d.r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, err
	}
	return d.buf[off : off+n : off+n], nil
}

func (d *decoder) isNil() (bool, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return false, d.wrapEOF(err)
	}
	if c == 0xc0 {
		return true, d.dec.DecodeNil()
	}
	return false, nil
}

func (d *decoder) ringID() (RingID, error) {
	if _, err := d.arrayLen(2, 2); err != nil {
		return RingID{}, err
	}
	rep, err := d.nodeID()
	if err != nil {
		return RingID{}, err
	}
	seq, err := d.u64()
	return RingID{Rep: rep, Seq: seq}, err
}

// nodeIDs reads a strictly increasing list of non-zero node ids.
func (d *decoder) nodeIDs() ([]NodeID, error) {
	n, err := d.arrayLen(0, MaxMembers)
	if err != nil {
		return nil, err
	}
	ids := make([]NodeID, n)
	for i := range ids {
		if ids[i], err = d.nodeID(); err != nil {
			return nil, err
		}
		if ids[i] == 0 {
			return nil, errors.New("node id 0 in list")
		}
		if i > 0 && ids[i] <= ids[i-1] {
			return nil, errors.New("node id list not strictly increasing")
		}
	}
	return ids, nil
}
