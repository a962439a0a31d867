package rsm

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// The replicas' own messages, multicast on the group with safe delivery. Each is one
// kind byte followed by a msgpack array.
type kind uint8

const (
	kindCmd     kind = iota + 1 // a command, applied by every replica holding the state
	kindRead                    // a linearizable read, answered only by the replica that sent it
	kindHello                   // sent on every view change: "my view is now ..."
	kindPrepare                 // the leader of a view opens a state-exchange round
	kindAck                     // a member's answer to prepare: its state's summary
	kindChunk                   // one piece of a snapshot
	kindStable                  // "I have delivered this many commands and reads of the epoch"
	kindRequest                 // a remote client's command or read, on the clients group
	kindReply                   // a replica's answer to a request, on the clients group
)

// ballot names a state-exchange round, and the epoch that round establishes. Ballots
// are totally ordered (K first); Inst, random per replica instance, makes every
// leader's ballots unique.
type ballot struct {
	_msgpack struct{} `msgpack:",as_array"`
	K        uint64
	Inst     uint64
}

func (b ballot) less(o ballot) bool {
	if b.K != o.K {
		return b.K < o.K
	}
	return b.Inst < o.Inst
}

func (b ballot) isZero() bool { return b.K == 0 && b.Inst == 0 }

// cmdMsg is a command or a read. (Client, Seq) identifies it for duplicate suppression.
type cmdMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Client   uint64
	Seq      uint64
	Data     []byte
}

// helloMsg announces the sender's view; Seen is the highest ballot number it knows, so
// that the leader picks a higher one.
type helloMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Members  []uint64
	Seen     uint64
}

type prepareMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Members  []uint64
	Ballot   ballot
}

// status summarises a replica's state, as of the position of the prepare it answers.
type status struct {
	_msgpack struct{} `msgpack:",as_array"`
	Epoch    ballot   // the last round this replica completed (zero: never)
	Synced   bool     // it holds that epoch's state (no transfer pending)
	Applied  uint64   // commands applied
	Digest   []byte   // hash chain over every command applied
}

type ackMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Ballot   ballot
	Reject   bool   // the sender had promised a higher ballot
	Seen     uint64 // the highest ballot number the sender knows
	Status   status
}

type chunkMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Ballot   ballot
	Index    uint32
	Last     bool
	Data     []byte
}

// stableMsg reports how many commands and reads of epoch Ballot the sender delivered.
type stableMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Ballot   ballot
	Pos      uint64
}

func encode(k kind, v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rsm: encode %d: %v", k, err)) // our own fixed types: cannot fail
	}
	return append([]byte{byte(k)}, b...)
}

var errBadMessage = errors.New("rsm: malformed message")

// decode parses a message; what does not parse is an error (the caller drops it).
func decode(b []byte) (kind, any, error) {
	if len(b) == 0 {
		return 0, nil, errBadMessage
	}
	var v any
	switch k := kind(b[0]); k {
	case kindCmd, kindRead:
		v = new(cmdMsg)
	case kindHello:
		v = new(helloMsg)
	case kindPrepare:
		v = new(prepareMsg)
	case kindAck:
		v = new(ackMsg)
	case kindChunk:
		v = new(chunkMsg)
	case kindStable:
		v = new(stableMsg)
	case kindRequest:
		v = new(requestMsg)
	case kindReply:
		v = new(replyMsg)
	default:
		return 0, nil, fmt.Errorf("%w: kind %d", errBadMessage, k)
	}
	if err := msgpack.Unmarshal(b[1:], v); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errBadMessage, err)
	}
	return kind(b[0]), v, nil
}
