package wire_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/totem-gcs/totem/multicast/wire"
)

// testCluster and testSender are what every test datagram is addressed with unless a test
// says otherwise.
var testCluster = wire.ClusterHash("test-cluster")

const testSender wire.NodeID = 7

// sample is a valid packet of some kind, with a name for subtests and corpus files.
type sample struct {
	name string
	p    wire.Packet
}

// payload returns n bytes of a recognisable, non-constant pattern.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// maxRTR is a token carrying the largest number of retransmission requests allowed, with
// values spread over every msgpack integer width.
func maxRTR() []wire.RetransmitRequest {
	rtr := make([]wire.RetransmitRequest, wire.MaxRetransmits)
	for i := range rtr {
		rtr[i] = wire.RetransmitRequest{
			Ring: wire.RingID{Rep: wire.NodeID(i + 1), Seq: uint64(1) << (i % 64)},
			Seq:  wire.Seq(^uint64(0) >> (i % 64)),
		}
	}
	return rtr
}

// nodes returns the node ids first, first+1, ... (n of them): a sorted list.
func nodes(first, n int) []wire.NodeID {
	ids := make([]wire.NodeID, n)
	for i := range ids {
		ids[i] = wire.NodeID(first + i)
	}
	return ids
}

// samples returns one or more valid packets of every kind.
func samples() []sample {
	ring := wire.RingID{Rep: 3, Seq: 41}
	return []sample{
		{"token", &wire.Token{Ring: ring, TokenSeq: 1000, Seq: 77, Aru: 70, AruID: 5, Backlog: 12, FCC: 30}},
		{"token-zero", &wire.Token{}},
		{"token-max-values", &wire.Token{
			Ring:     wire.RingID{Rep: ^wire.NodeID(0), Seq: ^uint64(0)},
			TokenSeq: ^uint64(0), Seq: ^wire.Seq(0), Aru: ^wire.Seq(0), AruID: ^wire.NodeID(0),
			Backlog: ^uint32(0), FCC: ^uint32(0), RetransFlag: true,
		}},
		{"token-rtr-max", &wire.Token{Ring: ring, TokenSeq: 9, Seq: 200, Aru: 150, AruID: 2, RetransFlag: true, RTR: maxRTR()}},
		{"mcast-agreed", &wire.Mcast{Ring: ring, Seq: 78, Origin: 5, Guarantee: wire.Agreed, Payload: []byte("hello, ring")}},
		{"mcast-safe", &wire.Mcast{Ring: ring, Seq: 79, Origin: 6, Guarantee: wire.Safe, Payload: payload(1024)}},
		{"mcast-empty-payload", &wire.Mcast{Ring: ring, Seq: 80, Origin: 5, Payload: []byte{}}},
		{"mcast-nil-payload", &wire.Mcast{Ring: ring, Seq: 81, Origin: 5, Payload: nil}},
		{"mcast-recovered", &wire.Mcast{
			Ring: ring, Seq: 1, Origin: 5, Guarantee: wire.Agreed, Payload: nil,
			Recovered: &wire.Mcast{
				Ring: wire.RingID{Rep: 2, Seq: 40}, Seq: 66, Origin: 9, Guarantee: wire.Safe,
				Payload: payload(300),
			},
		}},
		{"join", &wire.Join{ProcSet: []wire.NodeID{1, 3, 5, 7}, FailSet: []wire.NodeID{4}, RingSeq: 41}},
		{"join-alone", &wire.Join{ProcSet: []wire.NodeID{7}, RingSeq: 0}},
		{"join-leave", &wire.Join{ProcSet: []wire.NodeID{1, 3, 5}, FailSet: []wire.NodeID{7}, RingSeq: 41, Leave: true}},
		{"join-max-members", &wire.Join{ProcSet: nodes(1, wire.MaxMembers), FailSet: nodes(1000, wire.MaxMembers), RingSeq: 1 << 40}},
		{"commit-token", &wire.CommitToken{
			Ring: wire.RingID{Rep: 1, Seq: 44}, TokenSeq: 3, MembIndex: 2,
			Members: []wire.CommitMember{
				{Node: 1, OldRing: ring, Aru: 70, HighDelivered: 68, Received: true, Filled: true},
				{Node: 3, OldRing: ring, Aru: 70, HighDelivered: 70, Filled: true},
				{Node: 5, OldRing: wire.RingID{Rep: 5, Seq: 12}, Aru: 9, HighDelivered: 9, Received: true},
				{Node: 7},
			},
		}},
		{"commit-token-max-members", &wire.CommitToken{Ring: wire.RingID{Rep: 1, Seq: 45}, MembIndex: wire.MaxMembers - 1, Members: func() []wire.CommitMember {
			m := make([]wire.CommitMember, wire.MaxMembers)
			for i := range m {
				m[i] = wire.CommitMember{Node: wire.NodeID(i + 1), OldRing: wire.RingID{Rep: 1, Seq: 44}, Aru: wire.Seq(i), Filled: true}
			}
			return m
		}()}},
		{"merge-detect", &wire.MergeDetect{Ring: ring}},
		{"token-hold-cancel", &wire.TokenHoldCancel{Ring: ring}},
	}
}

// encode appends p for testCluster and testSender to a fresh buffer.
func encode(t testing.TB, p wire.Packet) []byte {
	t.Helper()
	b, err := wire.Append(nil, testCluster, testSender, p)
	if err != nil {
		t.Fatalf("Append(%T): %v", p, err)
	}
	return b
}

// header builds a 12-byte header field by field, for hand-made datagrams.
func header(magic uint16, version uint8, kind wire.Kind, cluster uint32, sender wire.NodeID) []byte {
	b := binary.BigEndian.AppendUint16(nil, magic)
	b = append(b, version, byte(kind))
	b = binary.BigEndian.AppendUint32(b, cluster)
	return binary.BigEndian.AppendUint32(b, uint32(sender))
}

// datagram is a valid header of the given kind followed by body.
func datagram(kind wire.Kind, body []byte) []byte {
	return append(header(wire.Magic, wire.Version, kind, testCluster, testSender), body...)
}

// arr writes a msgpack array header of n elements in mp; the elements follow as values.
type arr int

// str writes a msgpack string in mp.
type str string

// raw is copied into mp's output verbatim.
type raw []byte

// mp encodes a sequence of msgpack values directly with the msgpack library, for bodies
// that Append would never write. Non-negative ints become unsigned integers, negative ones
// signed; []byte becomes bin; str becomes a string.
func mp(t testing.TB, vals ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	for _, v := range vals {
		var err error
		switch v := v.(type) {
		case arr:
			err = enc.EncodeArrayLen(int(v))
		case int:
			if v < 0 {
				err = enc.EncodeInt(int64(v))
			} else {
				err = enc.EncodeUint(uint64(v))
			}
		case uint64:
			err = enc.EncodeUint(v)
		case str:
			err = enc.EncodeString(string(v))
		case []byte:
			err = enc.EncodeBytes(v)
		case bool:
			err = enc.EncodeBool(v)
		case nil:
			err = enc.EncodeNil()
		case float64:
			err = enc.EncodeFloat64(v)
		case map[string]any:
			err = enc.Encode(v)
		case raw:
			buf.Write(v)
		default:
			t.Fatalf("mp: unsupported value %T", v)
		}
		if err != nil {
			t.Fatalf("mp: %v", err)
		}
	}
	return buf.Bytes()
}

// normalize returns a copy of p in which every zero-length list (RTR, ProcSet, FailSet,
// Members) is nil. The codec encodes a nil and an empty list identically, so it cannot
// promise which one Decode returns; it does promise everything else, including the
// difference between a nil and an empty payload.
func normalize(p wire.Packet) wire.Packet {
	switch p := p.(type) {
	case *wire.Token:
		c := *p
		if len(c.RTR) == 0 {
			c.RTR = nil
		}
		return &c
	case *wire.Join:
		c := *p
		if len(c.ProcSet) == 0 {
			c.ProcSet = nil
		}
		if len(c.FailSet) == 0 {
			c.FailSet = nil
		}
		return &c
	case *wire.CommitToken:
		c := *p
		if len(c.Members) == 0 {
			c.Members = nil
		}
		return &c
	}
	return p
}
