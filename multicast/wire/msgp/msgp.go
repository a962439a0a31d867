// Package msgp appends and reads MessagePack values without reflection, for the
// encodings on the per-message path (records, the socket protocol's message frames):
// there the reflective encoder's field walking and allocations cost more than the rest
// of a message's handling together.
//
// Appenders write the smallest form of every value, as the reflective encoder does
// with compact integers. A Reader never panics and never allocates for a length the
// input does not back: every read checks the bytes that remain first.
package msgp

import (
	"encoding/binary"
	"errors"
	"math"
)

var (
	// ErrShort: the input ends inside a value.
	ErrShort = errors.New("msgp: input ends inside a value")
	// ErrType: the value is not of the type asked for.
	ErrType = errors.New("msgp: unexpected type")
	// ErrRange: an integer does not fit the type asked for.
	ErrRange = errors.New("msgp: integer out of range")
	// ErrDepth: values nested deeper than Skip follows.
	ErrDepth = errors.New("msgp: nested too deeply")
)

// AppendMapHeader appends the header of a map of n pairs.
func AppendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
	}
}

// AppendArrayHeader appends the header of an array of n values.
func AppendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

// AppendUint appends v in its smallest form.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
	}
}

// AppendBool appends v.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// AppendNil appends nil.
func AppendNil(b []byte) []byte { return append(b, 0xc0) }

// AppendString appends s as a str.
func AppendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// AppendBytes appends v as a bin (nil as nil, as the reflective encoder does).
func AppendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return AppendNil(b)
	}
	n := len(v)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, v...)
}

// Reader reads values from the front of a byte slice.
type Reader struct {
	b []byte
}

// NewReader reads b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Len is the number of bytes not read yet.
func (r *Reader) Len() int { return len(r.b) }

// IsNil reports whether the next value is nil, and consumes it if so.
func (r *Reader) IsNil() bool {
	if len(r.b) > 0 && r.b[0] == 0xc0 {
		r.b = r.b[1:]
		return true
	}
	return false
}

// take returns the next n bytes.
func (r *Reader) take(n uint64) ([]byte, error) {
	if uint64(len(r.b)) < n {
		return nil, ErrShort
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// length reads a big-endian length of size bytes.
func (r *Reader) length(size int) (uint64, error) {
	v, err := r.take(uint64(size))
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(v[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(v)), nil
	default:
		return uint64(binary.BigEndian.Uint32(v)), nil
	}
}

func (r *Reader) code() (byte, error) {
	if len(r.b) == 0 {
		return 0, ErrShort
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

// MapHeader reads a map header and returns its number of pairs.
func (r *Reader) MapHeader() (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), nil
	case c == 0xde:
		n, err = r.length(2)
	case c == 0xdf:
		n, err = r.length(4)
	default:
		return 0, ErrType
	}
	if err == nil && n > uint64(len(r.b))/2 { // every pair takes at least two bytes
		err = ErrShort
	}
	return int(n), err
}

// ArrayHeader reads an array header and returns its length.
func (r *Reader) ArrayHeader() (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), nil
	case c == 0xdc:
		n, err = r.length(2)
	case c == 0xdd:
		n, err = r.length(4)
	default:
		return 0, ErrType
	}
	if err == nil && n > uint64(len(r.b)) { // every value takes at least one byte
		err = ErrShort
	}
	return int(n), err
}

// StringBytes reads a str (or a bin, which the reflective decoder also takes for a
// string) and returns its bytes, aliasing the input.
func (r *Reader) StringBytes() ([]byte, error) {
	c, err := r.code()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = r.length(1)
	case c == 0xda || c == 0xc5:
		n, err = r.length(2)
	case c == 0xdb || c == 0xc6:
		n, err = r.length(4)
	default:
		return nil, ErrType
	}
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

// String reads a str as a string (a copy).
func (r *Reader) String() (string, error) {
	b, err := r.StringBytes()
	return string(b), err
}

// Bytes reads a bin (or a str) and returns its bytes aliasing the input; nil for nil.
func (r *Reader) Bytes() ([]byte, error) {
	if r.IsNil() {
		return nil, nil
	}
	return r.StringBytes()
}

// Uint reads a non-negative integer no larger than max.
func (r *Reader) Uint(max uint64) (uint64, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c < 0x80:
		v = uint64(c)
	case c == 0xcc || c == 0xd0:
		var b []byte
		if b, err = r.take(1); err == nil {
			v = uint64(b[0])
			if c == 0xd0 && int8(b[0]) < 0 {
				err = ErrRange
			}
		}
	case c == 0xcd || c == 0xd1:
		var b []byte
		if b, err = r.take(2); err == nil {
			v = uint64(binary.BigEndian.Uint16(b))
			if c == 0xd1 && int16(v) < 0 {
				err = ErrRange
			}
		}
	case c == 0xce || c == 0xd2:
		var b []byte
		if b, err = r.take(4); err == nil {
			v = uint64(binary.BigEndian.Uint32(b))
			if c == 0xd2 && int32(v) < 0 {
				err = ErrRange
			}
		}
	case c == 0xcf || c == 0xd3:
		var b []byte
		if b, err = r.take(8); err == nil {
			v = binary.BigEndian.Uint64(b)
			if c == 0xd3 && int64(v) < 0 {
				err = ErrRange
			}
		}
	case c >= 0xe0:
		return 0, ErrRange // negative fixint
	default:
		return 0, ErrType
	}
	if err == nil && v > max {
		err = ErrRange
	}
	return v, err
}

// Bool reads a bool.
func (r *Reader) Bool() (bool, error) {
	c, err := r.code()
	switch {
	case err != nil:
		return false, err
	case c == 0xc2:
		return false, nil
	case c == 0xc3:
		return true, nil
	}
	return false, ErrType
}

// maxDepth bounds the nesting Skip follows.
const maxDepth = 32

// Skip reads over the next value, whatever it is.
func (r *Reader) Skip() error { return r.skip(0) }

func (r *Reader) skip(depth int) error {
	if depth > maxDepth {
		return ErrDepth
	}
	if len(r.b) == 0 {
		return ErrShort
	}
	c := r.b[0]
	var n uint64
	var err error
	switch {
	case c < 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		r.b = r.b[1:]
		return nil
	case c&0xf0 == 0x80, c == 0xde, c == 0xdf:
		var pairs int
		if pairs, err = r.MapHeader(); err != nil {
			return err
		}
		return r.skipN(2*uint64(pairs), depth)
	case c&0xf0 == 0x90, c == 0xdc, c == 0xdd:
		var k int
		if k, err = r.ArrayHeader(); err != nil {
			return err
		}
		return r.skipN(uint64(k), depth)
	case c&0xe0 == 0xa0, c == 0xd9, c == 0xda, c == 0xdb, c == 0xc4, c == 0xc5, c == 0xc6:
		_, err = r.StringBytes()
		return err
	}
	r.b = r.b[1:]
	switch c {
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xca, 0xce, 0xd2:
		n = 4
	case 0xcb, 0xcf, 0xd3:
		n = 8
	case 0xd4: // fixext
		n = 2
	case 0xd5:
		n = 3
	case 0xd6:
		n = 5
	case 0xd7:
		n = 9
	case 0xd8:
		n = 17
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32: length, type, data
		size := 1 << (c - 0xc7) // 1, 2, 4
		if n, err = r.length(size); err != nil {
			return err
		}
		n++
	default:
		return ErrType // 0xc1, never used
	}
	_, err = r.take(n)
	return err
}

func (r *Reader) skipN(n uint64, depth int) error {
	for range n {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}
