package totem

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// A record is the unit the group layer multicasts: one join, leave, message or sync.
// Records are packed into ring payloads by totem/pack.
type recordKind uint8

const (
	recJoin  recordKind = 1
	recLeave recordKind = 2
	recData  recordKind = 3
	recSync  recordKind = 4 // the sender's local members, after a regular configuration
)

// Limits on what a record may carry.
const (
	MaxGroupName  = 255
	MaxClientName = 255
)

type record struct {
	_msgpack struct{} `msgpack:",as_array"`
	Kind     recordKind
	Group    string
	Session  uint32
	PID      uint32
	Name     string // join: the client's name
	Reason   Reason // leave: why
	Safe     bool   // data: safe delivery requested
	Data     []byte
	Sync     []syncEntry
}

type syncEntry struct {
	_msgpack struct{} `msgpack:",as_array"`
	Group    string
	Session  uint32
	PID      uint32
	Name     string
}

func encodeRecord(r *record) ([]byte, error) {
	return msgpack.Marshal(r)
}

// recordFields is the number of fields a record's array has.
const recordFields = 9

// EncodeMsgpack writes r as the msgpack array its struct tags describe, without
// reflection: records are encoded and decoded once per message at every node.
func (r *record) EncodeMsgpack(enc *msgpack.Encoder) error {
	err := errors.Join(
		enc.EncodeArrayLen(recordFields),
		enc.EncodeUint8(uint8(r.Kind)),
		enc.EncodeString(r.Group),
		enc.EncodeUint32(r.Session),
		enc.EncodeUint32(r.PID),
		enc.EncodeString(r.Name),
		enc.EncodeUint8(uint8(r.Reason)),
		enc.EncodeBool(r.Safe),
		enc.EncodeBytes(r.Data),
	)
	if err != nil {
		return err
	}
	if r.Sync == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeArrayLen(len(r.Sync)); err != nil {
		return err
	}
	for _, e := range r.Sync {
		err := errors.Join(
			enc.EncodeArrayLen(4),
			enc.EncodeString(e.Group),
			enc.EncodeUint32(e.Session),
			enc.EncodeUint32(e.PID),
			enc.EncodeString(e.Name),
		)
		if err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack reads what EncodeMsgpack (or the reflective encoder) wrote. Fields a
// newer sender appends are skipped; missing trailing ones stay zero.
func (r *record) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		return errors.New("nil record")
	}
	for i := range n {
		switch i {
		case 0:
			var k uint8
			k, err = dec.DecodeUint8()
			r.Kind = recordKind(k)
		case 1:
			r.Group, err = dec.DecodeString()
		case 2:
			r.Session, err = dec.DecodeUint32()
		case 3:
			r.PID, err = dec.DecodeUint32()
		case 4:
			r.Name, err = dec.DecodeString()
		case 5:
			var why uint8
			why, err = dec.DecodeUint8()
			r.Reason = Reason(why)
		case 6:
			r.Safe, err = dec.DecodeBool()
		case 7:
			r.Data, err = dec.DecodeBytes()
		case 8:
			r.Sync, err = decodeSyncEntries(dec)
		default:
			err = dec.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeSyncEntries(dec *msgpack.Decoder) ([]syncEntry, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	// Grown as entries arrive: a count that lies runs out of bytes before it can make
	// us allocate much.
	out := make([]syncEntry, 0, min(n, 64))
	for range n {
		m, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out = append(out, syncEntry{})
		e := &out[len(out)-1]
		for j := range max(m, 0) {
			switch j {
			case 0:
				e.Group, err = dec.DecodeString()
			case 1:
				e.Session, err = dec.DecodeUint32()
			case 2:
				e.PID, err = dec.DecodeUint32()
			case 3:
				e.Name, err = dec.DecodeString()
			default:
				err = dec.Skip()
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func decodeRecord(b []byte) (*record, error) {
	r := new(record)
	if err := msgpack.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("totem: bad record: %w", err)
	}
	switch {
	case r.Kind < recJoin || r.Kind > recSync:
		return nil, fmt.Errorf("totem: bad record kind %d", r.Kind)
	case len(r.Group) > MaxGroupName || len(r.Name) > MaxClientName:
		return nil, fmt.Errorf("totem: record names too long")
	}
	return r, nil
}
