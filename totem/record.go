package totem

import (
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
	_       struct{} `msgpack:",as_array"`
	Kind    recordKind
	Group   string
	Session uint32
	PID     uint32
	Name    string // join: the client's name
	Reason  Reason // leave: why
	Safe    bool   // data: safe delivery requested
	Data    []byte
	Sync    []syncEntry
}

type syncEntry struct {
	_       struct{} `msgpack:",as_array"`
	Group   string
	Session uint32
	PID     uint32
	Name    string
}

func encodeRecord(r *record) ([]byte, error) {
	return msgpack.Marshal(r)
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
