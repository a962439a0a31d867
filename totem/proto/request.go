package proto

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// The server reads requests with the parser below rather than the reflective msgpack
// decoder, which wraps integers (an id of 2^32+5 read as 5, -2 as 4294967294), reads
// nil as zero and bin as str. docs/PROTOCOL.md §5.1 is the rule this code keeps: every
// field has one msgpack type, every integer is checked against its range, and an error
// names the field, what it holds and what it should.

// RequestError is why a frame is not a well-formed request: the message of its
// bad_request error, and the request's id when it could still be read (else 0).
type RequestError struct {
	ID  uint32
	Msg string
}

// Error is the message of the bad_request error.
func (e *RequestError) Error() string { return e.Msg }

// field kinds of a request.
const (
	kindStr  = iota // str only
	kindBin         // bin, or str
	kindUint        // a non-negative integer of at most 32 bits
)

// requestFields are the keys of a request, their kinds and their bits in the
// duplicate-key mask.
var requestFields = map[string]struct {
	kind int
	bit  uint8
}{
	"type": {kindStr, 1}, "id": {kindUint, 2}, "version": {kindUint, 4}, "name": {kindStr, 8},
	"group": {kindStr, 16}, "level": {kindStr, 32}, "data": {kindBin, 64},
}

// parseRequest reads a frame body into req, which must be zero. The checks come in
// this order, and the first that fails is the error: the body is one well-formed map
// (Check); every key is a str and appears once; every known key's value has its type
// and range (in the order the keys come); the id is not 0; the type is not empty.
// Unknown keys are skipped. Strings and byte slices do not alias body.
func ParseRequest(body []byte, req *Request) *RequestError {
	if err := Check(body); err != nil {
		return &RequestError{ID: salvageID(body), Msg: err.Error()}
	}
	b := body
	n, b := mapLen(b)
	var (
		seen     uint8
		first    string // the first field error
		idFailed bool
	)
	fail := func(msg string) {
		if first == "" {
			first = msg
		}
	}
	for range n {
		key, rest, ok := readStr(b)
		if !ok {
			fail(fmt.Sprintf("a key is %s, want str", kindName(b)))
			b, _ = skip(b, 0)
			b, _ = skip(b, 0)
			continue
		}
		b = rest
		f, known := requestFields[string(key)]
		if !known {
			b, _ = skip(b, 0) // Check bounded the depth: this cannot fail
			continue
		}
		if seen&f.bit != 0 {
			fail(fmt.Sprintf("key %q appears twice", key))
			if f.bit == 2 {
				idFailed = true
			}
			b, _ = skip(b, 0)
			continue
		}
		seen |= f.bit
		var msg string
		switch f.kind {
		case kindUint:
			var v uint32
			v, b, msg = readUint32Field(b)
			switch string(key) {
			case "id":
				req.ID = v
				idFailed = msg != ""
			case "version":
				req.Version = v
			}
		case kindStr:
			var s []byte
			s, b, msg = readStrField(b)
			switch string(key) {
			case "type":
				req.Type = intern(s)
			case "name":
				req.Name = string(s)
			case "group":
				req.Group = string(s)
			case "level":
				req.Level = intern(s)
			}
		case kindBin:
			req.Data, b, msg = readBinField(b)
		}
		if msg != "" {
			fail(fmt.Sprintf("field %q: %s", key, msg))
		}
	}
	id := req.ID
	if idFailed {
		id = 0
	}
	switch {
	case first != "":
		return &RequestError{ID: id, Msg: first}
	case req.ID == 0:
		return &RequestError{Msg: `field "id" is missing or 0, want an unsigned integer 1..4294967295`}
	case req.Type == "":
		return &RequestError{ID: id, Msg: `field "type" is missing or empty`}
	}
	return nil
}

// mapLen reads a map header that Check has accepted.
func mapLen(b []byte) (int, []byte) {
	c := b[0]
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), b[1:]
	case c == 0xde:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:]
	}
	return int(binary.BigEndian.Uint32(b[1:])), b[5:]
}

// readStr reads a str (not a bin) and returns its bytes, aliasing b.
func readStr(b []byte) ([]byte, []byte, bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	c := b[0]
	var n, width int
	switch {
	case c&0xe0 == 0xa0:
		n, b = int(c&0x1f), b[1:]
	case c == 0xd9:
		width = 1
	case c == 0xda:
		width = 2
	case c == 0xdb:
		width = 4
	default:
		return nil, b, false
	}
	if width > 0 {
		var err error
		if n, b, err = readLen(b[1:], width); err != nil {
			return nil, b, false
		}
	}
	if n < 0 || n > len(b) {
		return nil, b, false
	}
	return b[:n:n], b[n:], true
}

// readBin reads a bin and returns its bytes, aliasing b.
func readBin(b []byte) ([]byte, []byte, bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	var width int
	switch b[0] {
	case 0xc4:
		width = 1
	case 0xc5:
		width = 2
	case 0xc6:
		width = 4
	default:
		return nil, b, false
	}
	n, rest, err := readLen(b[1:], width)
	if err != nil || n < 0 || n > len(rest) {
		return nil, b, false
	}
	return rest[:n:n], rest[n:], true
}

func readStrField(b []byte) ([]byte, []byte, string) {
	s, rest, ok := readStr(b)
	if !ok {
		rest, _ = skip(b, 0)
		return nil, rest, fmt.Sprintf("got %s, want str", kindName(b))
	}
	return s, rest, ""
}

func readBinField(b []byte) ([]byte, []byte, string) {
	d, rest, ok := readBin(b)
	if !ok {
		d, rest, ok = readStr(b)
	}
	if !ok {
		rest, _ = skip(b, 0)
		return nil, rest, fmt.Sprintf("got %s, want bin", kindName(b))
	}
	if len(d) == 0 {
		return nil, rest, ""
	}
	return append([]byte(nil), d...), rest, ""
}

// readUint32Field reads an integer of any msgpack encoding and checks that it is in
// 0..2^32-1; the message says what is wrong otherwise.
func readUint32Field(b []byte) (uint32, []byte, string) {
	u, s, signed, rest, ok := readInt(b)
	switch {
	case !ok:
		rest, _ = skip(b, 0)
		return 0, rest, fmt.Sprintf("got %s, want an unsigned integer", kindName(b))
	case signed:
		return 0, rest, fmt.Sprintf("%d is negative, want an unsigned integer of at most 32 bits", s)
	case u > math.MaxUint32:
		return 0, rest, fmt.Sprintf("%d is above 4294967295, the largest 32-bit unsigned integer", u)
	}
	return uint32(u), rest, ""
}

// readInt reads an integer: u when it is not negative, else s with signed set.
func readInt(b []byte) (u uint64, s int64, signed bool, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, 0, false, b, false
	}
	c, v := b[0], b[1:]
	width := 0
	switch {
	case c <= 0x7f:
		return uint64(c), 0, false, v, true
	case c >= 0xe0:
		return 0, int64(int8(c)), true, v, true
	case c >= 0xcc && c <= 0xcf:
		width = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		width = 1 << (c - 0xd0)
	default:
		return 0, 0, false, b, false
	}
	if len(v) < width {
		return 0, 0, false, b, false
	}
	var x uint64
	for _, d := range v[:width] {
		x = x<<8 | uint64(d)
	}
	rest = v[width:]
	if c >= 0xcc && c <= 0xcf {
		return x, 0, false, rest, true
	}
	shift := 64 - 8*width // sign-extend
	s = int64(x<<shift) >> shift
	if s >= 0 {
		return uint64(s), 0, false, rest, true
	}
	return 0, s, true, rest, true
}

// kindName names the msgpack type of the value at the start of b, for error messages.
func kindName(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "an integer"
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return "a map"
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return "an array"
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		return "str"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "a bool"
	case c >= 0xc4 && c <= 0xc6:
		return "bin"
	case c == 0xca || c == 0xcb:
		return "a float"
	}
	return "an extension"
}

// salvageID finds the id of a frame that is not a well-formed request, so that its
// error can still be matched: the value of the first "id" key of the top-level map,
// when it and every entry before it are well formed and it is an integer in
// 1..2^32-1. Else 0.
func salvageID(body []byte) uint32 {
	if len(body) == 0 || !isMap(body[0]) {
		return 0
	}
	// The map header itself may claim more entries than follow; read what is there.
	var n int
	switch c := body[0]; {
	case c&0xf0 == 0x80:
		n, body = int(c&0x0f), body[1:]
	default:
		var err error
		width := 2
		if c == 0xdf {
			width = 4
		}
		if n, body, err = readLen(body[1:], width); err != nil {
			return 0
		}
	}
	b := body
	for range n {
		key, rest, ok := readStr(b)
		if !ok {
			return 0
		}
		if string(key) == "id" {
			u, _, signed, _, ok := readInt(rest)
			if !ok || signed || u == 0 || u > math.MaxUint32 {
				return 0
			}
			return uint32(u)
		}
		var err error
		if b, err = skip(rest, 0); err != nil {
			return 0
		}
	}
	return 0
}

// intern returns b as a string, without allocating for the protocol's common words.
func intern(b []byte) string {
	for _, w := range requestWords {
		if string(b) == w {
			return w
		}
	}
	return string(b)
}

// requestWords are the strings most requests carry.
var requestWords = [...]string{TypeMulticast, TypeJoin, TypeLeave, TypeStatus, LevelAgreed, LevelSafe}

// validName reports whether a group or client name is valid UTF-8 (its length is
// checked where its limit is known).
func ValidName(s string) bool { return utf8.ValidString(s) }
