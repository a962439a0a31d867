package proto

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/multicast/wire/msgp"
)

// The frames of the per-message path, encoded and decoded by hand: a multicast request,
// its ok reply and the message event. The reflective codec cost a third of a daemon's
// CPU with small messages. The client's fast decoder takes only the plain form of its
// frame (the keys it knows, each of the type it expects); anything else goes the
// reflective way. The server reads every request with parseRequest (request.go).

// appendOK appends the frame {"type":"ok","id":id}, as AppendFrame would.
func AppendOK(dst []byte, id uint32) []byte {
	start := len(dst)
	b := append(dst, 0, 0, 0, 0)
	b = msgp.AppendMapHeader(b, 2)
	b = msgp.AppendString(b, "type")
	b = msgp.AppendString(b, TypeOK)
	b = msgp.AppendString(b, "id")
	b = msgp.AppendUint(b, uint64(id))
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-HeaderSize))
	return b
}

// AppendMulticast appends a multicast request frame, as AppendFrame of the Request
// would: type, id, group, level (left out when empty) and data (left out when empty).
func AppendMulticast(dst []byte, id uint32, group, level string, data []byte) []byte {
	start := len(dst)
	b := append(dst, 0, 0, 0, 0)
	n := 3
	if level != "" {
		n++
	}
	if len(data) > 0 {
		n++
	}
	b = msgp.AppendMapHeader(b, n)
	b = msgp.AppendString(b, "type")
	b = msgp.AppendString(b, TypeMulticast)
	b = msgp.AppendString(b, "id")
	b = msgp.AppendUint(b, uint64(id))
	b = msgp.AppendString(b, "group")
	b = msgp.AppendString(b, group)
	if level != "" {
		b = msgp.AppendString(b, "level")
		b = msgp.AppendString(b, level)
	}
	if len(data) > 0 {
		b = msgp.AppendString(b, "data")
		b = msgp.AppendBytes(b, data)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-HeaderSize))
	return b
}

// appendMessage appends a message event frame, as AppendFrame of the ServerFrame would:
// type, group, sender, level and data (left out when empty).
func AppendMessage(dst []byte, group string, sender Member, level string, data []byte) []byte {
	start := len(dst)
	b := append(dst, 0, 0, 0, 0)
	n := 4
	if len(data) > 0 {
		n++
	}
	b = msgp.AppendMapHeader(b, n)
	b = msgp.AppendString(b, "type")
	b = msgp.AppendString(b, TypeMessage)
	b = msgp.AppendString(b, "group")
	b = msgp.AppendString(b, group)
	b = msgp.AppendString(b, "sender")
	b = appendMember(b, sender)
	b = msgp.AppendString(b, "level")
	b = msgp.AppendString(b, level)
	if len(data) > 0 {
		b = msgp.AppendString(b, "data")
		b = msgp.AppendBytes(b, data)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-HeaderSize))
	return b
}

func appendMember(b []byte, m Member) []byte {
	n := 3
	if m.Name != "" {
		n++
	}
	b = msgp.AppendMapHeader(b, n)
	b = msgp.AppendString(b, "node")
	b = msgp.AppendUint(b, uint64(m.Node))
	b = msgp.AppendString(b, "session")
	b = msgp.AppendUint(b, uint64(m.Session))
	b = msgp.AppendString(b, "pid")
	b = msgp.AppendUint(b, uint64(m.PID))
	if m.Name != "" {
		b = msgp.AppendString(b, "name")
		b = msgp.AppendString(b, m.Name)
	}
	return b
}

// DecodeServerFrameFast decodes an ok reply or a message event of the plain form (the
// keys it knows, each of the type it expects) into a zero f, and reports false for any
// other frame: then f holds garbage and the caller resets it and uses Decode. What it
// decodes does not alias body.
func DecodeServerFrameFast(body []byte, f *ServerFrame) bool {
	r := msgp.NewReader(body)
	n, err := r.MapHeader()
	if err != nil {
		return false
	}
	var seen uint8
	for range n {
		key, err := r.StringBytes()
		if err != nil {
			return false
		}
		var bit uint8
		switch string(key) {
		case "type":
			bit = 1
			f.Type, err = internString(&r)
		case "id":
			bit = 2
			f.ID, err = readUint32(&r)
		case "group":
			bit = 4
			f.Group, err = r.String()
		case "level":
			bit = 8
			f.Level, err = internString(&r)
		case "data":
			bit = 16
			f.Data, err = copyBin(&r)
		case "sender":
			bit = 32
			err = readMember(&r, &f.Sender)
		default:
			return false
		}
		if err != nil || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return r.Len() == 0 && (f.Type == TypeOK || f.Type == TypeMessage)
}

func readMember(r *msgp.Reader, m *Member) error {
	n, err := r.MapHeader()
	if err != nil {
		return err
	}
	var seen uint8
	for range n {
		key, err := r.StringBytes()
		if err != nil {
			return err
		}
		var bit uint8
		switch string(key) {
		case "node":
			bit = 1
			var v uint32
			v, err = readUint32(r)
			m.Node = wire.NodeID(v)
		case "session":
			bit = 2
			m.Session, err = readUint32(r)
		case "pid":
			bit = 4
			m.PID, err = readUint32(r)
		case "name":
			bit = 8
			m.Name, err = r.String()
		default:
			return msgp.ErrType
		}
		if err == nil && seen&bit != 0 {
			err = msgp.ErrType
		}
		if err != nil {
			return err
		}
		seen |= bit
	}
	return nil
}

func readUint32(r *msgp.Reader) (uint32, error) {
	v, err := r.Uint(math.MaxUint32)
	return uint32(v), err
}

// internString reads a str that is usually one of the protocol's words, without
// allocating for those.
func internString(r *msgp.Reader) (string, error) {
	b, err := r.StringBytes()
	if err != nil {
		return "", err
	}
	for _, w := range words {
		if bytes.Equal(b, []byte(w)) {
			return w, nil
		}
	}
	return string(b), nil
}

var words = [...]string{TypeMulticast, TypeMessage, TypeOK, LevelAgreed, LevelSafe}

// copyBin reads a bin (or a str, as the reflective decoder does; nil goes the reflective
// way) into a new slice: frame buffers are reused, and what a frame carries outlives it.
func copyBin(r *msgp.Reader) ([]byte, error) {
	if r.IsNil() {
		return nil, msgp.ErrType
	}
	b, err := r.Bytes()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}
