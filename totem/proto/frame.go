package proto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Framing errors.
var (
	// ErrFrameTooLarge: a frame's length prefix claims more than the reader's limit.
	// The stream cannot be resynchronised, so the connection must be closed.
	ErrFrameTooLarge = errors.New("ipc: frame too large")
	// ErrMalformed: a frame body is not one well-formed msgpack map.
	ErrMalformed = errors.New("ipc: malformed frame")
)

// readChunk bounds how much a FrameReader allocates ahead of the bytes that actually
// arrive, so that a peer claiming a large frame and sending nothing costs little.
const ReadChunk = 64 << 10

// keepBuffer is the largest buffer a FrameReader keeps between frames; a larger one,
// grown for a large message, is released after use.
const KeepBuffer = 256 << 10

// FrameReader reads length-prefixed frames from a stream. It is not safe for
// concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	hdr [HeaderSize]byte
}

// Retained is the capacity of the buffer the reader keeps between frames (0: none): a
// reader keeps at most KeepBuffer bytes once a larger frame has been read.
func (r *FrameReader) Retained() int { return cap(r.buf) }

// NewFrameReader reads frames of at most max body bytes from r.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, ReadChunk), max: max}
}

// Next returns the next frame's body, valid until the following call. It returns io.EOF
// at a clean end of stream (between frames), io.ErrUnexpectedEOF inside a frame, and
// ErrFrameTooLarge, without reading the body, when the prefix claims more than max.
func (fr *FrameReader) Next() ([]byte, error) {
	if cap(fr.buf) > KeepBuffer {
		fr.buf = nil
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(fr.hdr[:]))
	if n > fr.max {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrFrameTooLarge, n, fr.max)
	}
	b := fr.buf[:0]
	for len(b) < n {
		chunk := min(n-len(b), ReadChunk)
		b = slices.Grow(b, chunk)
		m, err := io.ReadFull(fr.r, b[len(b):len(b)+chunk])
		b = b[:len(b)+m]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	fr.buf = b
	return b, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends v, msgpack-encoded, with its length prefix to dst.
func AppendFrame(dst []byte, v any) ([]byte, error) {
	start := len(dst)
	w := &appendWriter{b: append(dst, 0, 0, 0, 0)}
	enc := encoders.Get().(*msgpack.Encoder)
	enc.Reset(w)
	enc.UseCompactInts(true)
	err := enc.Encode(v)
	enc.Reset(nil)
	encoders.Put(enc)
	if err != nil {
		return dst, fmt.Errorf("ipc: encode: %w", err)
	}
	n := len(w.b) - start - HeaderSize
	if uint64(n) > 1<<32-1 {
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint32(w.b[start:], uint32(n))
	return w.b, nil
}

var encoders = sync.Pool{New: func() any { return msgpack.NewEncoder(nil) }}

// appendWriter is the msgpack encoder's writer: it appends to a slice, so a frame is
// encoded in place with no intermediate copy.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// Decode decodes a frame body into v (a *Request or a *ServerFrame). It first checks
// that the body is exactly one msgpack map whose every length fits in the body, so the
// decoder never allocates for a length the bytes do not back, and never recurses deeper
// than maxDepth. Decoded strings and byte slices do not alias body.
func Decode(body []byte, v any) error {
	if err := Check(body); err != nil {
		return err
	}
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// SetMax changes the frame limit, e.g. once a handshake has announced it.
func (fr *FrameReader) SetMax(max int) { fr.max = max }
