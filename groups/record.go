package groups

import (
	"errors"
	"fmt"

	"github.com/totem-gcs/totem/multicast/wire/msgp"
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
	// RecordOverhead bounds what a record adds to an application message (kind, names,
	// ids): a record of a message of n bytes is at most n + RecordOverhead.
	RecordOverhead = 2*MaxGroupName + 64
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

// encodeRecord writes r as the msgpack array its struct tags describe (the format of
// the reflective encoder, which TestRecordCodecKeepsTheFormat holds it to), by hand:
// records are encoded once per message.
func encodeRecord(r *record) ([]byte, error) {
	size := 32 + len(r.Group) + len(r.Name) + len(r.Data)
	for _, e := range r.Sync {
		size += 24 + len(e.Group) + len(e.Name)
	}
	b := make([]byte, 0, size)
	b = msgp.AppendArrayHeader(b, recordFields)
	b = msgp.AppendUint(b, uint64(r.Kind))
	b = msgp.AppendString(b, r.Group)
	b = msgp.AppendUint(b, uint64(r.Session))
	b = msgp.AppendUint(b, uint64(r.PID))
	b = msgp.AppendString(b, r.Name)
	b = msgp.AppendUint(b, uint64(r.Reason))
	b = msgp.AppendBool(b, r.Safe)
	b = msgp.AppendBytes(b, r.Data)
	if r.Sync == nil {
		return msgp.AppendNil(b), nil
	}
	b = msgp.AppendArrayHeader(b, len(r.Sync))
	for _, e := range r.Sync {
		b = msgp.AppendArrayHeader(b, 4)
		b = msgp.AppendString(b, e.Group)
		b = msgp.AppendUint(b, uint64(e.Session))
		b = msgp.AppendUint(b, uint64(e.PID))
		b = msgp.AppendString(b, e.Name)
	}
	return b, nil
}

// recordFields is the number of fields a record's array has.
const recordFields = 9

// decodeRecord reads what encodeRecord (or the reflective encoder) wrote. Fields a newer
// sender appends are skipped; missing trailing ones stay zero. The record's Data aliases
// b: payloads are copied once, into the client's frame, not here.
func decodeRecord(b []byte) (*record, error) {
	r := new(record)
	if err := r.decode(b); err != nil {
		return nil, fmt.Errorf("groups: bad record: %w", err)
	}
	switch {
	case r.Kind < recJoin || r.Kind > recSync:
		return nil, fmt.Errorf("groups: bad record kind %d", r.Kind)
	case len(r.Group) > MaxGroupName || len(r.Name) > MaxClientName:
		return nil, fmt.Errorf("groups: record names too long")
	}
	return r, nil
}

func (r *record) decode(b []byte) error {
	rd := msgp.NewReader(b)
	if rd.IsNil() {
		return errors.New("nil record")
	}
	n, err := rd.ArrayHeader()
	if err != nil {
		return err
	}
	for i := range n {
		var v uint64
		switch i {
		case 0:
			v, err = rd.Uint(255)
			r.Kind = recordKind(v)
		case 1:
			r.Group, err = nameField(&rd)
		case 2:
			v, err = rd.Uint(1<<32 - 1)
			r.Session = uint32(v)
		case 3:
			v, err = rd.Uint(1<<32 - 1)
			r.PID = uint32(v)
		case 4:
			r.Name, err = nameField(&rd)
		case 5:
			v, err = rd.Uint(255)
			r.Reason = Reason(v)
		case 6:
			r.Safe, err = rd.Bool()
		case 7:
			r.Data, err = rd.Bytes()
		case 8:
			r.Sync, err = decodeSyncEntries(&rd)
		default:
			err = rd.Skip()
		}
		if err != nil {
			return err
		}
	}
	if rd.Len() != 0 {
		return errors.New("trailing bytes")
	}
	return nil
}

// nameField reads a group or client name, refusing one too long before copying it.
func nameField(rd *msgp.Reader) (string, error) {
	b, err := rd.StringBytes()
	if err != nil {
		return "", err
	}
	if len(b) > max(MaxGroupName, MaxClientName) {
		return "", errors.New("name too long")
	}
	return string(b), nil
}

func decodeSyncEntries(rd *msgp.Reader) ([]syncEntry, error) {
	if rd.IsNil() {
		return nil, nil
	}
	n, err := rd.ArrayHeader()
	if err != nil || n == 0 {
		return nil, err
	}
	// Grown as entries arrive: a count that lies runs out of bytes before it can make
	// us allocate much.
	out := make([]syncEntry, 0, min(n, 64))
	for range n {
		m, err := rd.ArrayHeader()
		if err != nil {
			return nil, err
		}
		out = append(out, syncEntry{})
		e := &out[len(out)-1]
		for j := range m {
			var v uint64
			switch j {
			case 0:
				e.Group, err = nameField(rd)
			case 1:
				v, err = rd.Uint(1<<32 - 1)
				e.Session = uint32(v)
			case 2:
				v, err = rd.Uint(1<<32 - 1)
				e.PID = uint32(v)
			case 3:
				e.Name, err = nameField(rd)
			default:
				err = rd.Skip()
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
