package proto

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds the nesting of arrays and maps in a frame. The deepest frame of
// protocol version 1 nests three levels (a groups reply: map, array, map, array, map).
const maxDepth = 16

// Check reports whether b is exactly one msgpack map, well formed, with every string,
// binary, extension, array and map length backed by bytes that follow it and nesting
// at most maxDepth deep. It allocates nothing; a decoder can then trust every length.
func Check(b []byte) error {
	if len(b) == 0 || !isMap(b[0]) {
		return fmt.Errorf("%w: body is not a msgpack map", ErrMalformed)
	}
	rest, err := skip(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the map", ErrMalformed, len(rest))
	}
	return nil
}

func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

var errTruncated = fmt.Errorf("%w: truncated", ErrMalformed)

// skip returns what follows the one msgpack object at the start of b.
func skip(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, errTruncated
	}
	c, b := b[0], b[1:]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return b, nil // fixints, nil, booleans
	case c&0xf0 == 0x80:
		return skipItems(b, 2*int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return skipItems(b, int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return skipBytes(b, int(c&0x1f))
	}
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		return skipSized(b, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return skipSized(b, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return skipSized(b, 4, 0)
	case 0xc7: // ext8: length, type, data
		return skipSized(b, 1, 1)
	case 0xc8:
		return skipSized(b, 2, 1)
	case 0xc9:
		return skipSized(b, 4, 1)
	case 0xcc, 0xd0: // uint8, int8
		return skipBytes(b, 1)
	case 0xcd, 0xd1, 0xd4: // uint16, int16, fixext1 (type + 1)
		return skipBytes(b, 2)
	case 0xd5: // fixext2
		return skipBytes(b, 3)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return skipBytes(b, 4)
	case 0xd6: // fixext4
		return skipBytes(b, 5)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return skipBytes(b, 8)
	case 0xd7: // fixext8
		return skipBytes(b, 9)
	case 0xd8: // fixext16
		return skipBytes(b, 17)
	case 0xdc, 0xde: // array16, map16
		return skipContainer(b, 2, c == 0xde, depth)
	case 0xdd, 0xdf: // array32, map32
		return skipContainer(b, 4, c == 0xdf, depth)
	}
	return nil, fmt.Errorf("%w: invalid msgpack code 0x%02x", ErrMalformed, c) // 0xc1
}

// readLen reads a big-endian length of width bytes.
func readLen(b []byte, width int) (int, []byte, error) {
	if len(b) < width {
		return 0, nil, errTruncated
	}
	switch width {
	case 1:
		return int(b[0]), b[1:], nil
	case 2:
		return int(binary.BigEndian.Uint16(b)), b[2:], nil
	}
	return int(binary.BigEndian.Uint32(b)), b[4:], nil
}

// skipSized skips a length of width bytes, extra bytes (an extension's type), then
// length bytes of data.
func skipSized(b []byte, width, extra int) ([]byte, error) {
	n, b, err := readLen(b, width)
	if err != nil {
		return nil, err
	}
	return skipBytes(b, extra+n)
}

func skipBytes(b []byte, n int) ([]byte, error) {
	if n < 0 || n > len(b) { // negative: a 32-bit length overflowed int
		return nil, errTruncated
	}
	return b[n:], nil
}

func skipContainer(b []byte, width int, isMap bool, depth int) ([]byte, error) {
	n, b, err := readLen(b, width)
	if err != nil {
		return nil, err
	}
	if isMap {
		n *= 2
	}
	return skipItems(b, n, depth)
}

// skipItems skips n objects of a container; each takes at least one byte, so a count
// beyond what is left is rejected before any work.
func skipItems(b []byte, n, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if n < 0 || n > len(b) {
		return nil, errTruncated
	}
	var err error
	for range n {
		if b, err = skip(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}
