package ring

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// ErrQueueFull is returned by Submit when the send queue is at Config.SendQueueMax. The
// caller must wait (for example until Ready reports deliveries) and try again.
var ErrQueueFull = errors.New("ring: send queue full")

// FaultKind names a condition the ordering protocol cannot handle by itself; the
// membership layer reacts to it by forming a new ring.
type FaultKind uint8

const (
	// FaultTokenLost: no token accepted for Config.TokenTimeout.
	FaultTokenLost FaultKind = iota + 1
	// FaultFailedToReceive: this member kept the ring's aru stuck for
	// Config.FailToReceive; it cannot receive a message the others hold.
	FaultFailedToReceive
	// FaultForeign: a regular message of another ring was heard (a partition healed or a
	// new processor started); From names its originator.
	FaultForeign
)

// String returns the fault's name as logs show it ("token-lost", ...).
func (k FaultKind) String() string {
	switch k {
	case FaultTokenLost:
		return "token-lost"
	case FaultFailedToReceive:
		return "failed-to-receive"
	case FaultForeign:
		return "foreign-ring"
	}
	return fmt.Sprintf("fault(%d)", uint8(k))
}

// Fault is reported in Ready.Faults.
type Fault struct {
	Kind FaultKind
	// From is FaultForeign's sender, and FaultTokenLost's predecessor: the member that
	// should have passed us the token (the failed one, or the first after it).
	From wire.NodeID
	Ring wire.RingID // FaultForeign: the foreign ring
	// Waited is FaultTokenLost's time since we last accepted the token (or since the
	// ring started, if it never came).
	Waited time.Duration
}

// Unicast is a packet for one member.
type Unicast struct {
	To     wire.NodeID
	Packet wire.Packet
}

// Ready is what the ring wants done after an event. Ready() drains it.
type Ready struct {
	// Multicast: packets for every other member, in this order.
	Multicast []wire.Packet
	// Unicast: packets for one member each (the token for the successor).
	Unicast []Unicast
	// Deliver: messages in the ring's total order, each exactly once. A message delivered
	// here with Guarantee Safe is known to be held by every member. The messages are
	// shared with the ring's store: read them, do not modify them.
	Deliver []*wire.Mcast
	// Faults for the membership layer.
	Faults []Fault
	// Visits reports, in recovery (StartRecovery), each token visit's token as this
	// member passed it on: what the membership layer decides the end of recovery from.
	Visits []Visit
	// Deadline is when the ring next wants Tick to be called (0: no timer armed).
	Deadline time.Duration
}

// Visit is one token visit in recovery, as the token left this member.
type Visit struct {
	Seq     wire.Seq // the highest seq numbered on the ring
	Aru     wire.Seq // the token's aru (after the ceiling, CapAru)
	Backlog uint32   // messages queued at the members, as the token counts them
	OwnAru  wire.Seq // this member's aru
}

// Stats counts what the ring has done; it only grows.
type Stats struct {
	TokensAccepted    uint64
	TokensDuplicate   uint64 // stale or duplicate token copies dropped
	TokensForeign     uint64 // tokens of another ring dropped
	TokenRetransmits  uint64 // times we re-sent our copy of the token
	HoldCancelRetries uint64 // times we asked again for a token that did not come
	McastsReceived    uint64
	McastsDuplicate   uint64
	McastsOutOfWindow uint64
	Originated        uint64 // new messages we multicast
	Retransmitted     uint64 // messages we re-multicast on request
	RequestedRTR      uint64 // retransmission requests we added to the token
	Delivered         uint64 // messages delivered, of either guarantee
	SafeDelivered     uint64 // of those, the messages sent as safe
	// Rotations are the token rotation times this member measured (the samples the
	// adaptive retransmission timer takes, see retransmit.go).
	Rotations RotationHistogram
}

// Add adds o's counts to s: the totals of several rings, or of several members.
func (s *Stats) Add(o Stats) {
	s.TokensAccepted += o.TokensAccepted
	s.TokensDuplicate += o.TokensDuplicate
	s.TokensForeign += o.TokensForeign
	s.TokenRetransmits += o.TokenRetransmits
	s.HoldCancelRetries += o.HoldCancelRetries
	s.McastsReceived += o.McastsReceived
	s.McastsDuplicate += o.McastsDuplicate
	s.McastsOutOfWindow += o.McastsOutOfWindow
	s.Originated += o.Originated
	s.Retransmitted += o.Retransmitted
	s.RequestedRTR += o.RequestedRTR
	s.Delivered += o.Delivered
	s.SafeDelivered += o.SafeDelivered
	s.Rotations.Merge(o.Rotations)
}

// RotationBuckets are the upper bounds of a RotationHistogram's buckets: 25µs doubling
// up to 3.2768 s, which spans an idle ring's rotation on one host (a few tens of
// microseconds over loopback) to one far beyond any token timeout. Read it; do not
// modify it.
var RotationBuckets = [rotationBounds]time.Duration{
	25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 400 * time.Microsecond, 800 * time.Microsecond,
	1600 * time.Microsecond, 3200 * time.Microsecond, 6400 * time.Microsecond, 12800 * time.Microsecond,
	25600 * time.Microsecond, 51200 * time.Microsecond, 102400 * time.Microsecond, 204800 * time.Microsecond,
	409600 * time.Microsecond, 819200 * time.Microsecond, 1638400 * time.Microsecond, 3276800 * time.Microsecond,
}

const rotationBounds = 18

// RotationHistogram counts measured token rotation times in fixed buckets. Counts is
// per bucket, not cumulative: Counts[i] counts the samples d with
// RotationBuckets[i-1] < d <= RotationBuckets[i] (Counts[0]: d <= RotationBuckets[0]),
// and the last element the samples above every bound. Count is the sum of Counts, Sum
// the sum of the samples.
type RotationHistogram struct {
	Counts [rotationBounds + 1]uint64
	Count  uint64
	Sum    time.Duration
}

// Observe counts one sample.
func (h *RotationHistogram) Observe(d time.Duration) {
	i := 0
	for i < len(RotationBuckets) && d > RotationBuckets[i] {
		i++
	}
	h.Counts[i]++
	h.Count++
	h.Sum += d
}

// Merge adds o's samples to h.
func (h *RotationHistogram) Merge(o RotationHistogram) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Count += o.Count
	h.Sum += o.Sum
}

// Status is a snapshot of the ring's position, for the membership layer and for operators.
type Status struct {
	Ring          wire.RingID
	Members       []wire.NodeID
	Aru           wire.Seq      // my all-received-up-to
	HighSeq       wire.Seq      // highest seq received or sent
	HighDelivered wire.Seq      // highest seq delivered
	SafeUpTo      wire.Seq      // every member is known to hold 1..SafeUpTo
	Released      wire.Seq      // messages <= Released are freed
	Stored        int           // slots between Released and HighSeq
	Queued        int           // application messages waiting for the token
	Rotation      time.Duration // smoothed token rotation time measured here (0: none yet)
	Stats         Stats
}

type pending struct {
	payload   []byte
	guarantee wire.Guarantee
	recovered *wire.Mcast // a recovery copy of an old ring's message (membership layer)
}

// Pending is an application message submitted but not yet sent.
type Pending struct {
	Payload   []byte
	Guarantee wire.Guarantee
}

// Ring is one member's state for one ring. It is not safe for concurrent use.
type Ring struct {
	cfg         Config
	id          wire.RingID
	members     []wire.NodeID
	successor   wire.NodeID
	predecessor wire.NodeID   // who passes us the token, named when it stops
	tokenAt     time.Duration // when we last accepted the token (or the ring started)

	msgs          store
	aru           wire.Seq // my_aru: all of 1..aru received
	highSeq       wire.Seq // my_high_seq_received
	highDelivered wire.Seq
	safeUpTo      wire.Seq         // min(aru on this visit, aru on the previous visit)
	lastAru       wire.Seq         // token.Aru seen on the previous visit
	missed        map[wire.Seq]int // visits each missing seq has been missing

	queue          []pending
	queuedRecovery int // recovery copies in queue
	// Recovery (StartRecovery): the token's aru leaves this member at most aruCeiling
	// once capped.
	recovering bool
	capped     bool
	aruCeiling wire.Seq
	stopped    bool

	tokenSeq  uint64      // TokenSeq of the last token we accepted
	lastToken *wire.Token // our copy of the token we last forwarded, for retransmission
	visited   bool        // we have accepted at least one token

	// Flow control, as Corosync: what we sent last visit and our backlog then.
	trc, pbl int

	// Idle detection and token hold.
	lastTokenSeqNo  wire.Seq // token.Seq at the previous visit
	unchangedVisits int
	held            *wire.Token // the token we are holding (representative, idle ring)
	holdCancelSent  bool

	// Failure to receive.
	stuckSince time.Duration
	stuck      bool

	// Token retransmission (retransmit.go).
	rotation       rotationEstimate
	forwardedAt    time.Duration // when we forwarded the token we wait for (0: none)
	retransmitWait time.Duration // the current wait; doubles at each re-send
	resent         bool          // we re-sent the token we wait for
	measure        bool          // its rotation may be measured (it cannot be held)

	// Timers (0 = not armed).
	retransmitAt time.Duration
	lossAt       time.Duration
	holdUntil    time.Duration
	askAt        time.Duration // a member with messages and no token asks for it again
	lossReported bool

	ready Ready
	stats Stats
}

// New returns the state of member cfg.Self on ring id with the given members. Members
// need not be sorted; the ring order is ascending node id. Start must be called on the
// representative (the lowest id) to originate the token.
func New(cfg Config, id wire.RingID, members []wire.NodeID, now time.Duration) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	if len(ms) == 0 || ms[0] == 0 {
		return nil, fmt.Errorf("ring: invalid member list %v", members)
	}
	i, ok := slices.BinarySearch(ms, cfg.Self)
	if !ok {
		return nil, fmt.Errorf("ring: self %d not in members %v", cfg.Self, ms)
	}
	r := &Ring{
		cfg:         cfg,
		id:          id,
		members:     ms,
		successor:   ms[(i+1)%len(ms)],
		predecessor: ms[(i+len(ms)-1)%len(ms)],
		missed:      make(map[wire.Seq]int),
	}
	r.lossAt, r.tokenAt = now+cfg.TokenTimeout, now
	return r, nil
}

// ID returns the ring id.
func (r *Ring) ID() wire.RingID { return r.id }

// Members returns the ring's members in ring order. The slice must not be modified.
func (r *Ring) Members() []wire.NodeID { return r.members }

// Representative is the member that originates the token: the lowest node id.
func (r *Ring) Representative() wire.NodeID { return r.members[0] }

// Start originates the first token if this member is the representative; otherwise it
// does nothing. Call it once, right after New.
func (r *Ring) Start(now time.Duration) {
	if r.cfg.Self != r.Representative() || r.visited || r.stopped {
		return
	}
	r.acceptToken(now, &wire.Token{Ring: r.id})
}

// Started reports whether this member has accepted a token yet (the representative: has
// originated it).
func (r *Ring) Started() bool { return r.visited }

// Submit queues an application message for the next token visit. It fails with
// ErrQueueFull when Config.SendQueueMax messages already wait.
func (r *Ring) Submit(now time.Duration, payload []byte, g wire.Guarantee) error {
	if r.QueueSpace() <= 0 {
		return ErrQueueFull
	}
	r.queue = append(r.queue, pending{payload: payload, guarantee: g})
	r.maybeCancelHold(now)
	return nil
}

// SubmitFirst queues a message ahead of every message not yet sent, even beyond
// SendQueueMax (by one). The layer above uses it for what must precede its other
// messages on a new ring (its state announcement after a configuration change).
func (r *Ring) SubmitFirst(now time.Duration, payload []byte, g wire.Guarantee) {
	r.queue = slices.Insert(r.queue, 0, pending{payload: payload, guarantee: g})
	r.maybeCancelHold(now)
}

// QueueSpace is how many more messages Submit accepts now.
func (r *Ring) QueueSpace() int { return r.cfg.SendQueueMax - (len(r.queue) - r.queuedRecovery) }

// SubmitRecovered queues a recovery copy: an old ring's message m re-sent on this ring
// during membership recovery. Recovery copies are not bounded by SendQueueMax (the old
// ring's store bounds them) and go out in submission order with application messages.
func (r *Ring) SubmitRecovered(now time.Duration, m *wire.Mcast) {
	r.queue = append(r.queue, pending{recovered: m})
	r.queuedRecovery++
	r.maybeCancelHold(now)
}

// QueuedRecovered is the number of recovery copies not yet sent.
func (r *Ring) QueuedRecovered() int { return r.queuedRecovery }

// TakeQueue removes and returns the application messages not yet sent, in submission
// order, so that the membership layer can carry them over to the next ring.
func (r *Ring) TakeQueue() []Pending {
	var out []Pending
	for _, p := range r.queue {
		if p.recovered == nil {
			out = append(out, Pending{Payload: p.payload, Guarantee: p.guarantee})
		}
	}
	r.queue, r.queuedRecovery = nil, 0
	return out
}

// StartRecovery puts the ring in recovery: the membership layer re-sends an old ring's
// messages over it and must learn when every member holds them all. From now on each
// visit sets the token's RetransFlag while any member has messages queued (its Backlog
// counts every member's queue, so a flag that each member sets and clears for itself,
// as the paper has it, cannot be fooled by two members clearing it in turn), and
// reports the token as it left in Ready.Visits.
func (r *Ring) StartRecovery() { r.recovering = true }

// CapAru keeps the token's aru at most ceiling when it leaves this member (naming this
// member as the one that lowered it) until EndRecovery. A member still in recovery
// uses it so that no member can deliver as safe, in a configuration this member may
// never install, a message above what recovery re-sent.
func (r *Ring) CapAru(ceiling wire.Seq) { r.capped, r.aruCeiling = true, ceiling }

// EndRecovery ends recovery: the ring is operational, the token passes unchanged.
func (r *Ring) EndRecovery() { r.recovering, r.capped = false, false }

// Stop disarms every timer and drops a held token: the ring is no longer operational (the
// membership layer keeps it only as the store of its messages). Messages may still be
// stepped into it.
func (r *Ring) Stop() {
	r.stopped = true
	r.held, r.lastToken = nil, nil
	r.retransmitAt, r.lossAt, r.holdUntil = 0, 0, 0
}

// Ready returns and clears the pending outputs. Deadline is always current.
func (r *Ring) Ready() Ready {
	rd := r.ready
	rd.Deadline = r.deadline()
	r.ready = Ready{}
	return rd
}

// HasReady reports whether Ready holds outputs.
func (r *Ring) HasReady() bool {
	return len(r.ready.Multicast)+len(r.ready.Unicast)+len(r.ready.Deliver)+len(r.ready.Faults)+len(r.ready.Visits) > 0
}

// Status returns a snapshot.
func (r *Ring) Status() Status {
	return Status{
		Ring:          r.id,
		Members:       slices.Clone(r.members),
		Aru:           r.aru,
		HighSeq:       r.highSeq,
		HighDelivered: r.highDelivered,
		SafeUpTo:      r.safeUpTo,
		Released:      r.msgs.released,
		Stored:        r.msgs.held(),
		Queued:        len(r.queue) - r.queuedRecovery,
		Rotation:      r.Rotation(),
		Stats:         r.stats,
	}
}

// Aru is this member's all-received-up-to: it holds every message 1..Aru.
func (r *Ring) Aru() wire.Seq { return r.aru }

// HighSeq is the highest sequence number this member received or sent.
func (r *Ring) HighSeq() wire.Seq { return r.highSeq }

// HighDelivered is the highest sequence number delivered.
func (r *Ring) HighDelivered() wire.Seq { return r.highDelivered }

// Message returns the stored message with sequence number s, or nil. The membership layer
// uses it to re-send old-ring messages during recovery.
func (r *Ring) Message(s wire.Seq) *wire.Mcast { return r.msgs.get(s) }

// Deadline is when the ring next wants Tick to be called (0: no timer armed). Unlike
// Ready, it does not drain anything.
func (r *Ring) Deadline() time.Duration { return r.deadline() }

func (r *Ring) deadline() time.Duration {
	var d time.Duration
	for _, t := range [...]time.Duration{r.retransmitAt, r.lossAt, r.holdUntil, r.askAt} {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}

// Tick fires the timers that are due at now.
func (r *Ring) Tick(now time.Duration) {
	if r.holdUntil != 0 && now >= r.holdUntil {
		r.releaseHold(now)
	}
	if r.retransmitAt != 0 && now >= r.retransmitAt && r.lastToken != nil {
		// No sign that the successor got the token: send our copy again. A duplicate is
		// harmless, the successor recognises it by TokenSeq.
		r.retransmitToken(now)
	}
	if r.askAt != 0 && now >= r.askAt {
		r.askAgain(now)
	}
	if r.lossAt != 0 && now >= r.lossAt {
		r.lossAt = 0
		r.retransmitAt = 0
		if !r.lossReported {
			r.lossReported = true
			r.ready.Faults = append(r.ready.Faults, Fault{Kind: FaultTokenLost, From: r.predecessor, Waited: now - r.tokenAt})
		}
	}
}

// StepHoldCancel handles a TokenHoldCancel for this ring: release the token if we hold it.
func (r *Ring) StepHoldCancel(now time.Duration) {
	r.unchangedVisits = 0
	if r.held != nil {
		r.releaseHold(now)
		return
	}
	r.wanted(now)
}

// maybeCancelHold asks for the token when we have data and the ring may be idle. The
// representative holds once it has seen IdleVisits unchanged visits; every other member
// has then seen at least IdleVisits-1 (the rotation in which the representative decided
// may not have reached it yet), so that is the count at which the others must ask.
func (r *Ring) maybeCancelHold(now time.Duration) {
	if r.held != nil {
		// A one-member ring holds its token whenever it is idle, whatever Hold says.
		r.releaseHold(now)
		return
	}
	if r.cfg.Hold == 0 {
		return
	}
	r.armAsk(now)
	if r.unchangedVisits >= r.cfg.IdleVisits-1 && !r.holdCancelSent && len(r.members) > 1 {
		r.holdCancelSent = true
		r.ready.Multicast = append(r.ready.Multicast, &wire.TokenHoldCancel{Ring: r.id})
		r.wanted(now)
	}
}

// askInterval is how long a member with messages waits for the token before it asks a
// holder to release it (again): whatever kept its first request from working, a lost
// datagram or a count that did not look idle yet, costs at most this, not the Hold.
func (r *Ring) askInterval() time.Duration { return max(r.cfg.Hold/8, time.Millisecond) }

// armAsk starts the wait for the token of a member that has messages to send.
func (r *Ring) armAsk(now time.Duration) {
	if r.askAt == 0 && r.cfg.Hold > 0 && len(r.members) > 1 && len(r.queue) > 0 {
		r.askAt = now + r.askInterval()
	}
}

// askAgain sends a TokenHoldCancel when messages still wait for a token that has not
// come for askInterval and the ring looked idle (only then can the representative be
// holding it: its idle count is at most one above ours). A token that is merely slow
// or lost is the retransmission timers' business.
func (r *Ring) askAgain(now time.Duration) {
	r.askAt = 0
	if len(r.queue) == 0 || r.stopped {
		return
	}
	if r.unchangedVisits < r.cfg.IdleVisits-1 && !r.holdCancelSent {
		return // the next visit arms the wait again
	}
	r.stats.HoldCancelRetries++
	r.ready.Multicast = append(r.ready.Multicast, &wire.TokenHoldCancel{Ring: r.id})
	r.wanted(now)
	r.askAt = now + r.askInterval()
}

func (r *Ring) releaseHold(now time.Duration) {
	t := r.held
	r.held, r.holdUntil = nil, 0
	switch {
	case t == nil:
	case len(r.members) == 1:
		r.passToSelf(now, t)
	default:
		r.forward(now, t)
	}
}
