package rsm

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Member identifies one member of the replicas' group: a session of some node. Every
// member of the group is a replica.
type Member struct {
	Node    wire.NodeID
	Session uint32
}

// String returns the member as "node/session".
func (m Member) String() string { return fmt.Sprintf("%d/%d", m.Node, m.Session) }

func cmpMember(a, b Member) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Session, b.Session)
}

// pack and unpack carry members in messages as one number each.
func pack(m Member) uint64 { return uint64(m.Node)<<32 | uint64(m.Session) }

func unpack(u uint64) Member { return Member{Node: wire.NodeID(u >> 32), Session: uint32(u)} }

func packAll(ms []Member) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = pack(m)
	}
	return out
}

func unpackAll(us []uint64) []Member {
	out := make([]Member, len(us))
	for i, u := range us {
		out[i] = unpack(u)
	}
	return out
}

// Change is a member that joined or left the group, and why (join, leave, disconnect,
// node-down, node-up).
type Change struct {
	Member Member
	Reason string
}

// View is the group's membership after a change.
type View struct {
	Members []Member // sorted by node, then session
	Joined  []Change
	Left    []Change
}

// Event is what a Channel receives, in the group's agreed order: a view change (View
// non-nil) or a message.
type Event struct {
	View   *View
	Sender Member
	Data   []byte // owned by the receiver
}

// Channel is what a Replica needs from the group layer. GroupChannel implements it over
// any client.Conn (a daemon's client over its Unix socket, or an embedded node's
// session); tests may fake it.
//
// The channel must already be a member of the group when Run starts, and every member
// of the group must be a replica of the same state machine: the replicas count the
// group's members as votes.
type Channel interface {
	// Self is this replica's own member identity in the group.
	Self() Member
	// Send multicasts data to the group with safe delivery: every member receives it
	// only once every node of the configuration holds it. It may be called from many
	// goroutines; one goroutine's sends are delivered in the order it made them.
	Send(ctx context.Context, data []byte) error
	// Recv returns the group's next event. An error other than ctx's means the channel
	// is gone (the session closed, the daemon went away).
	Recv(ctx context.Context) (Event, error)
}

// agreedSender is a Channel that can also multicast with agreed delivery (ordered, but
// not waiting until every node holds the message). Requests and replies of remote
// clients need no more: they are not replicated state, and a lost one is retried.
type agreedSender interface {
	SendAgreed(ctx context.Context, data []byte) error
}

// sendAgreed sends with agreed delivery where ch can, else with safe delivery.
func sendAgreed(ctx context.Context, ch Channel, data []byte) error {
	if a, ok := ch.(agreedSender); ok {
		return a.SendAgreed(ctx, data)
	}
	return ch.Send(ctx, data)
}

func sortedMembers(ms []Member) []Member {
	out := slices.Clone(ms)
	slices.SortFunc(out, cmpMember)
	return slices.Compact(out)
}
