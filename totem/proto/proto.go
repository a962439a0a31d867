package proto

import "github.com/totem-gcs/totem/multicast/wire"

// Version is the newest protocol version this package speaks. A client announces the
// newest it speaks in its hello; the server answers with min(client's, Version).
const Version = 1

// Limits of the protocol.
const (
	// HeaderSize is the size of a frame's length prefix.
	HeaderSize = 4
	// FrameOverhead is what a frame may carry beyond one application message (names,
	// ids, keys): the frame limit is MaxMessage + FrameOverhead.
	FrameOverhead = 64 << 10
	// DefaultMaxMessage is the node's default maximum message size (totem.DefaultConfig).
	DefaultMaxMessage = 1 << 20
	// HelloFrameMax bounds the frames before the welcome, in both directions: the
	// client's hello (a larger length prefix is a fatal frame_too_large) and the server's
	// first frame. A client does not know max_frame until the welcome.
	HelloFrameMax = 64 << 10
)

// FrameLimit is the largest frame body either side may send when messages are at most
// maxMessage bytes.
func FrameLimit(maxMessage int) int { return maxMessage + FrameOverhead }

// Frame types sent by the client (requests).
const (
	TypeHello     = "hello"
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeMulticast = "multicast"
	TypeStatus    = "status"  // also the type of its reply
	TypeGroups    = "groups"  // also the type of its reply
	TypeMembers   = "members" // also the type of its reply
)

// Frame types sent by the server: replies (with the request's id) and events (id 0).
const (
	TypeWelcome = "welcome" // reply to hello
	TypeOK      = "ok"      // reply to join, leave, multicast
	TypeError   = "error"   // reply to any request, or (id 0) about the connection
	TypeMessage = "message" // event: a message of a joined group
	TypeView    = "view"    // event: a view change of a joined group
)

// Error codes, the "code" of an error frame. New codes may be added; a client treats an
// unknown code as a failure of the request (or, when fatal, of the connection).
const (
	CodeBadRequest       = "bad_request"       // malformed msgpack, missing or invalid field
	CodeUnknownRequest   = "unknown_request"   // a request type the server does not know
	CodeHelloRequired    = "hello_required"    // fatal: the first frame was not hello
	CodeBadVersion       = "bad_version"       // fatal: no common protocol version
	CodeTimeout          = "timeout"           // fatal: no hello in time
	CodePermissionDenied = "permission_denied" // fatal: the peer's uid/gid is not allowed
	CodeFrameTooLarge    = "frame_too_large"   // fatal: a frame header above max_frame
	CodeTooLarge         = "too_large"         // message above max_message, reply above max_frame
	CodeBadGroup         = "bad_group"         // empty group name or longer than 255 bytes
	CodeBadLevel         = "bad_level"         // a service level the server does not offer
	CodeNotJoined        = "not_joined"        // leave or multicast to a group not joined
	CodeAlreadyJoined    = "already_joined"    // join of a group already joined
	CodeSlowConsumer     = "slow_consumer"     // fatal: the client fell too far behind its events
	CodeShuttingDown     = "shutting_down"     // fatal: the daemon (or its node) is stopping
	CodeInternal         = "internal"          // anything else; the message says what
)

// Service levels of a message. Only LevelAgreed and LevelSafe are offered now; the
// others are reserved names, rejected with CodeBadLevel until a server offers them (the
// welcome lists what it offers).
const (
	LevelAgreed   = "agreed"
	LevelSafe     = "safe"
	LevelReliable = "reliable" // reserved
	LevelFIFO     = "fifo"     // reserved
	LevelCausal   = "causal"   // reserved
)

// Request is every frame a client sends. Which fields count depends on Type; keys with
// zero values may be left out (see docs/PROTOCOL.md).
type Request struct {
	Type    string `msgpack:"type"`
	ID      uint32 `msgpack:"id"`
	Version uint32 `msgpack:"version,omitempty"` // hello
	Name    string `msgpack:"name,omitempty"`    // hello: the client's name
	Group   string `msgpack:"group,omitempty"`   // join, leave, multicast, members
	Level   string `msgpack:"level,omitempty"`   // multicast; absent means agreed
	Data    []byte `msgpack:"data,omitempty"`    // multicast
}

// ServerFrame is every frame a server sends: the union of replies and events, told
// apart by Type. A reply carries its request's ID; an event has ID 0. Keys with zero
// values are left out, and a receiver reads a missing key as its zero value.
type ServerFrame struct {
	Type string `msgpack:"type"`
	ID   uint32 `msgpack:"id,omitempty"`

	// error
	Code    string `msgpack:"code,omitempty"`
	Message string `msgpack:"message,omitempty"`
	Fatal   bool   `msgpack:"fatal,omitempty"` // the server closes the connection after it

	// welcome
	Version    uint32   `msgpack:"version,omitempty"`
	Session    uint32   `msgpack:"session,omitempty"`
	PID        uint32   `msgpack:"pid,omitempty"`
	MaxMessage uint32   `msgpack:"max_message,omitempty"`
	MaxFrame   uint32   `msgpack:"max_frame,omitempty"`
	Levels     []string `msgpack:"levels,omitempty"`

	// welcome, status
	NodeID wire.NodeID `msgpack:"node_id,omitempty"`

	// status
	State string        `msgpack:"state,omitempty"`
	Ring  RingID        `msgpack:"ring,omitempty"`
	Nodes []wire.NodeID `msgpack:"nodes,omitempty"`
	// RotationUS is the measured token rotation time in microseconds (absent: unknown).
	RotationUS uint64 `msgpack:"rotation_us,omitempty"`
	// Security is "authenticated" (a pre-shared key) or "unauthenticated".
	Security string `msgpack:"security,omitempty"`
	// AuthFailures counts datagrams dropped because they failed authentication (or
	// their checksum): another key, forged, corrupted.
	AuthFailures uint64 `msgpack:"auth_failures,omitempty"`
	// Replayed counts authenticated datagrams dropped as copies of ones already received
	// (a replay) or of a sender's earlier run.
	Replayed uint64 `msgpack:"replayed,omitempty"`
	// DuplicateID counts datagrams dropped because a second live node sends with a
	// member's node id.
	DuplicateID uint64 `msgpack:"duplicate_id,omitempty"`
	// Transport says how the node reaches the ring: "multicast GROUP:PORT" or "udpu".
	Transport string `msgpack:"transport,omitempty"`
	// Timers are the node's effective protocol timers.
	Timers *Timers `msgpack:"timers,omitempty"`
	// KnownNodes lists every configured node, every node heard and every ring member,
	// sorted by id (status.go).
	KnownNodes []NodeInfo `msgpack:"known_nodes,omitempty"`

	// groups
	Groups []Group `msgpack:"groups,omitempty"`

	// members, view, message
	Group   string   `msgpack:"group,omitempty"`
	Members []Member `msgpack:"members,omitempty"`

	// view
	Joined []Change `msgpack:"joined,omitempty"`
	Left   []Change `msgpack:"left,omitempty"`

	// message
	Sender Member `msgpack:"sender,omitempty"`
	Level  string `msgpack:"level,omitempty"`
	Data   []byte `msgpack:"data,omitempty"`
}

// Member is one member of a group: a session of some node.
type Member struct {
	Node    wire.NodeID `msgpack:"node"`
	Session uint32      `msgpack:"session"`
	PID     uint32      `msgpack:"pid"`
	Name    string      `msgpack:"name,omitempty"`
}

// Change is a member that joined or left a group, and why: "join", "leave",
// "disconnect", "node-down" or "node-up" (more may be added).
type Change struct {
	Node    wire.NodeID `msgpack:"node"`
	Session uint32      `msgpack:"session"`
	PID     uint32      `msgpack:"pid"`
	Name    string      `msgpack:"name,omitempty"`
	Reason  string      `msgpack:"reason"`
}

// Group is one group and its members, as the node knows them.
type Group struct {
	Name    string   `msgpack:"name"`
	Members []Member `msgpack:"members"`
}

// RingID names a ring: its representative and its ring sequence number.
type RingID struct {
	Rep wire.NodeID `msgpack:"rep"`
	Seq uint64      `msgpack:"seq"`
}

// IsZero lets omitempty leave out a zero ring id.
func (r RingID) IsZero() bool { return r == RingID{} }

// IsZero lets omitempty leave out a zero member (the sender of a frame that is not a
// message).
func (m Member) IsZero() bool { return m == Member{} }
