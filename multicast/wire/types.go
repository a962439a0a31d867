package wire

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// NodeID identifies one processor (one totemd). Zero is reserved and never a member.
type NodeID uint32

// String returns the id in decimal.
func (n NodeID) String() string { return strconv.FormatUint(uint64(n), 10) }

// Seq is a position in a ring's total order. Sequence numbers restart at 1 on every ring;
// 0 means "nothing".
type Seq uint64

// RingID names one ring (one regular configuration): the representative that formed it and
// a ring sequence number that only ever grows, across restarts too.
type RingID struct {
	Rep NodeID
	Seq uint64
}

// String returns the ring id as "rep.seq", the form logs and status use.
func (r RingID) String() string { return fmt.Sprintf("%d.%d", r.Rep, r.Seq) }

// IsZero reports whether r is the zero ring id (no ring yet).
func (r RingID) IsZero() bool { return r == RingID{} }

// Less orders ring ids by sequence number, then representative.
func (r RingID) Less(o RingID) bool {
	if r.Seq != o.Seq {
		return r.Seq < o.Seq
	}
	return r.Rep < o.Rep
}

// ClusterHash is the 32-bit FNV-1a hash of a cluster name. It is carried in every header so
// that two clusters sharing a multicast address and port ignore each other.
func ClusterHash(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()
}

// Kind is the type of a packet.
type Kind uint8

const (
	KindToken           Kind = 1 // regular token, unicast to the ring successor
	KindMcast           Kind = 2 // regular (ordered) message, multicast
	KindJoin            Kind = 3 // membership join (or leave) message, multicast
	KindCommitToken     Kind = 4 // membership commit token, unicast
	KindMergeDetect     Kind = 5 // idle representative announcing its ring, multicast
	KindTokenHoldCancel Kind = 6 // "I have data, release the held token", multicast
	// kindEnd is one past the last valid kind. (Spelled out: an omitted expression would
	// repeat "Kind = 6", not count on.)
	kindEnd = KindTokenHoldCancel + 1
)

var kindNames = [...]string{
	KindToken:           "token",
	KindMcast:           "mcast",
	KindJoin:            "join",
	KindCommitToken:     "commit-token",
	KindMergeDetect:     "merge-detect",
	KindTokenHoldCancel: "token-hold-cancel",
}

// String returns the kind's name ("token", "mcast", ...) or kind(N) for an unknown one.
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Packet is one of the packet kinds below. The set is closed: only this package's types
// implement it.
type Packet interface {
	Kind() Kind
	encodeBody(e *encoder)
	decodeBody(d *decoder) error
}

// Limits on what a packet may carry. Decoding rejects anything beyond them before
// allocating, so a hostile datagram cannot make a node allocate more than it is long.
const (
	// MaxMembers is the largest ring (and the largest proc/fail set in a join).
	MaxMembers = 384
	// MaxRetransmits caps the retransmission requests carried by one token.
	MaxRetransmits = 64
	// MaxDatagram is the largest datagram any transport sends or accepts (UDP's limit).
	MaxDatagram = 65507
)

// Guarantee is the delivery service a message asks for.
type Guarantee uint8

const (
	// Agreed: delivered in the total order as soon as every earlier message was delivered.
	Agreed Guarantee = 0
	// Safe: agreed, and in addition held back until every member of the ring is known to
	// have received it.
	Safe Guarantee = 1
)

// String returns "agreed", "safe" or guarantee(N) for an unknown value.
func (g Guarantee) String() string {
	switch g {
	case Agreed:
		return "agreed"
	case Safe:
		return "safe"
	}
	return fmt.Sprintf("guarantee(%d)", uint8(g))
}

// Mcast is a regular message: one slot of a ring's total order.
//
// A message re-sent during membership recovery travels on the new ring as an outer Mcast
// whose Recovered field holds the original (old ring id, old seq, payload). Recovered
// messages are never nested more than once.
type Mcast struct {
	Ring      RingID    // ring on which this copy was sequenced
	Seq       Seq       // position in that ring's order (token.Seq+1 at send time)
	Origin    NodeID    // processor that originated the message
	Guarantee Guarantee // agreed or safe
	Payload   []byte    // opaque to the ring; packed application messages
	Recovered *Mcast    // non-nil on a recovery copy: the old ring's message
}

// RetransmitRequest asks for one missing message.
type RetransmitRequest struct {
	Ring RingID
	Seq  Seq
}

// Token is the regular token: ordering, reliability and flow control in one packet.
type Token struct {
	Ring     RingID // tokens of other rings are dropped
	TokenSeq uint64 // bumped on every accepted hop; detects duplicates and stale copies
	Seq      Seq    // highest sequence number assigned on this ring
	Aru      Seq    // all-received-up-to: every member holds 1..Aru (once confirmed)
	AruID    NodeID // member that last lowered Aru below Seq; 0 = nobody
	Backlog  uint32 // sum of members' pending-send queue lengths (flow control)
	FCC      uint32 // messages (new + retransmitted) sent during the last rotation
	// RetransFlag is used during recovery: set while some member still has old-ring
	// messages to re-send.
	RetransFlag bool
	RTR         []RetransmitRequest // retransmission requests, at most MaxRetransmits
}

// Join is a membership join message: the sender's view of who should form the next ring.
// A leave announcement is a join with Leave set, the sender in FailSet and absent from
// ProcSet.
type Join struct {
	ProcSet []NodeID // processors the sender proposes for the next ring (sorted)
	FailSet []NodeID // processors the sender believes failed (sorted)
	RingSeq uint64   // highest ring sequence number the sender knows of
	Leave   bool     // graceful leave rather than a join
}

// CommitMember is one member's entry in the commit token.
type CommitMember struct {
	Node          NodeID
	OldRing       RingID // the ring this member comes from
	Aru           Seq    // its all-received-up-to on the old ring
	HighDelivered Seq    // highest old-ring seq it delivered
	Received      bool   // it already holds every old-ring message its old-ring peers hold
	Filled        bool   // the member has written this entry (first rotation)
}

// CommitToken carries the agreed membership of a new ring around it twice.
type CommitToken struct {
	Ring      RingID         // the new ring's id
	TokenSeq  uint64         // bumped per hop; recognises retransmitted copies
	MembIndex uint32         // index of the member that last forwarded it
	Members   []CommitMember // sorted by node id: the new ring order
}

// MergeDetect is multicast by an idle ring's representative so that other rings on the
// same network notice it and merge.
type MergeDetect struct {
	Ring RingID
}

// TokenHoldCancel asks the representative to stop holding an idle ring's token.
type TokenHoldCancel struct {
	Ring RingID
}

// Kind reports KindMcast; with the other Kind methods it makes each body a Packet.
func (*Mcast) Kind() Kind { return KindMcast }

// Kind reports KindToken.
func (*Token) Kind() Kind { return KindToken }

// Kind reports KindJoin.
func (*Join) Kind() Kind { return KindJoin }

// Kind reports KindCommitToken.
func (*CommitToken) Kind() Kind { return KindCommitToken }

// Kind reports KindMergeDetect.
func (*MergeDetect) Kind() Kind { return KindMergeDetect }

// Kind reports KindTokenHoldCancel.
func (*TokenHoldCancel) Kind() Kind { return KindTokenHoldCancel }

// newPacket returns an empty packet of kind k, or nil for an unknown kind.
func newPacket(k Kind) Packet {
	switch k {
	case KindToken:
		return new(Token)
	case KindMcast:
		return new(Mcast)
	case KindJoin:
		return new(Join)
	case KindCommitToken:
		return new(CommitToken)
	case KindMergeDetect:
		return new(MergeDetect)
	case KindTokenHoldCancel:
		return new(TokenHoldCancel)
	}
	return nil
}
