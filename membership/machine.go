package membership

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// ErrQueueFull is returned by Submit when Config.Ring.SendQueueMax application messages
// already wait. The caller must apply backpressure and retry.
var ErrQueueFull = ring.ErrQueueFull

// ErrLeft is returned by Submit after Leave.
var ErrLeft = errors.New("membership: processor has left")

// Machine is one processor's membership and ordering state. It is not safe for concurrent
// use; it does no I/O and reads no clock.
type Machine struct {
	cfg   Config
	self  wire.NodeID
	state State

	// ringSeq is the highest ring sequence number this processor has used or proposed; it
	// is persisted so that a restarted processor never reuses a ring id.
	ringSeq    uint64
	maxJoinSeq uint64 // highest ring seq seen in joins this round (token_ring_id_seq)

	// The installed regular configuration.
	regID      wire.RingID
	regMembers []wire.NodeID

	// cur is the operational ring (Operational) or the new ring being recovered
	// (Recovery). old is the installed ring while the machine is not operational: the
	// store of the messages still to deliver at the next installation.
	cur     *ring.Ring
	old     *ring.Ring
	oldHeld []*wire.Mcast // old-ring messages deliverable in the old configuration
	newHeld []*wire.Mcast // new-ring messages delivered by the ring before installation
	leaving []wire.NodeID // processors that announced a graceful leave

	// Gather.
	proc, fail  []wire.NodeID
	consensus   map[wire.NodeID]bool
	joinAt      time.Duration
	consensusAt time.Duration

	// Commit (and the start of Recovery).
	commitRing     wire.RingID
	commitSeen     uint64            // TokenSeq of the last commit token accepted
	commitCopy     *wire.CommitToken // last commit token we sent, for retransmission
	commitTo       wire.NodeID
	commitResendAt time.Duration
	commitLossAt   time.Duration

	rec *recovery

	pending []ring.Pending // application messages waiting for an operational ring
	mergeAt time.Duration

	ready Ready
}

// New returns a processor that starts gathering: it announces itself with a join and
// forms a ring with whoever answers (alone, if nobody does). storedRingSeq is the last
// value the caller persisted from Ready.RingSeq (0 on first start).
func New(cfg Config, storedRingSeq uint64, now time.Duration) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{
		cfg:  cfg,
		self: cfg.Ring.Self,
		// A restarted processor must not propose a ring id it may already have used.
		ringSeq: storedRingSeq + 1,
	}
	m.ready.RingSeq = m.ringSeq
	m.proc = []wire.NodeID{m.self}
	m.shiftToGather(now, "start")
	return m, nil
}

// Ready returns and clears the pending outputs.
func (m *Machine) Ready() Ready {
	rd := m.ready
	rd.Deadline = m.deadline()
	m.ready = Ready{}
	return rd
}

// Status returns a snapshot.
func (m *Machine) Status() Status {
	st := Status{
		Self: m.self, State: m.state, Ring: m.regID,
		Members: append([]wire.NodeID(nil), m.regMembers...),
		Queued:  len(m.pending), RingSeq: m.ringSeq,
	}
	if m.state == Operational {
		st.Queued += m.cur.Status().Queued
	}
	return st
}

// RingStatus returns the operational ring's status (ok false when not operational).
func (m *Machine) RingStatus() (ring.Status, bool) {
	if m.state != Operational {
		return ring.Status{}, false
	}
	return m.cur.Status(), true
}

// Submit queues an application message. Messages submitted while the ring is being
// re-formed wait and go out on the next ring, in submission order.
func (m *Machine) Submit(now time.Duration, payload []byte, g wire.Guarantee) error {
	if m.state == Left {
		return ErrLeft
	}
	if m.state == Operational && len(m.pending) == 0 {
		err := m.cur.Submit(now, payload, g)
		m.drain(now) // a held token may have been released: its outputs are ready now
		return err
	}
	queued := len(m.pending)
	if m.state == Operational {
		queued += m.cur.Status().Queued
	}
	if queued >= m.cfg.Ring.SendQueueMax {
		return ErrQueueFull
	}
	m.pending = append(m.pending, ring.Pending{Payload: payload, Guarantee: g})
	m.feed(now)
	m.drain(now)
	return nil
}

// SubmitFirst queues a message ahead of every message not yet sent. Called while handling
// the Ready that carries a regular configuration, it puts the message first on the new
// ring from this processor: no token has visited since the installation.
func (m *Machine) SubmitFirst(now time.Duration, payload []byte, g wire.Guarantee) error {
	switch m.state {
	case Left:
		return ErrLeft
	case Operational:
		m.cur.SubmitFirst(now, payload, g)
		m.drain(now)
	default:
		m.pending = slices.Insert(m.pending, 0, ring.Pending{Payload: payload, Guarantee: g})
	}
	return nil
}

// TakePending removes and returns the application messages not yet sent (waiting for a
// ring, or queued in the operational ring), in submission order. The layer above uses it
// after a configuration change to re-pack what it had submitted.
func (m *Machine) TakePending() []ring.Pending {
	out := m.pending
	m.pending = nil
	if m.state == Operational {
		out = append(m.cur.TakeQueue(), out...)
	}
	return out
}

// QueueSpace is how many more messages Submit accepts now.
func (m *Machine) QueueSpace() int {
	queued := len(m.pending)
	if m.state == Operational {
		queued += m.cur.Status().Queued
	}
	return max(0, m.cfg.Ring.SendQueueMax-queued)
}

// feed moves waiting application messages into the operational ring.
func (m *Machine) feed(now time.Duration) {
	if m.state != Operational {
		return
	}
	n := 0
	for _, p := range m.pending {
		if m.cur.Submit(now, p.Payload, p.Guarantee) != nil {
			break
		}
		n++
	}
	clear(m.pending[:n])
	m.pending = m.pending[n:]
	if len(m.pending) == 0 {
		m.pending = nil
	}
}

// Leave announces a graceful leave: the others re-form at once instead of waiting for a
// token timeout. The machine does nothing afterwards.
func (m *Machine) Leave(now time.Duration) {
	if m.state == Left {
		return
	}
	others := setMinus(setAdd(setOf(m.regMembers), m.proc...), []wire.NodeID{m.self})
	m.ready.Multicast = append(m.ready.Multicast, &wire.Join{
		ProcSet: others, FailSet: []wire.NodeID{m.self}, RingSeq: m.ringSeq, Leave: true,
	})
	m.transition(Left, m.regID, "leave")
	m.stopRings()
}

func (m *Machine) stopRings() {
	if m.cur != nil {
		m.cur.Stop()
	}
	m.cur, m.old, m.rec = nil, nil, nil
}

func (m *Machine) transition(to State, ring wire.RingID, reason string) {
	m.record(Transition{From: m.state, To: to, Ring: ring, Reason: reason})
}

// record reports a transition (every one into Gather, a restart of it included) and
// makes it.
func (m *Machine) record(t Transition) {
	if m.state != t.To || t.To == Gather {
		m.ready.Transitions = append(m.ready.Transitions, t)
	}
	m.state = t.To
}

// joinIDs writes node ids as "2, 3".
func joinIDs(ids []wire.NodeID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ", ")
}

// Step handles a decoded packet from processor from.
func (m *Machine) Step(now time.Duration, from wire.NodeID, p wire.Packet) {
	if m.state == Left || from == m.self {
		return
	}
	switch p := p.(type) {
	case *wire.Token:
		m.handleToken(now, p)
	case *wire.Mcast:
		m.handleMcast(now, from, p)
	case *wire.Join:
		m.handleJoin(now, from, p)
	case *wire.CommitToken:
		m.handleCommit(now, p)
	case *wire.MergeDetect:
		m.handleForeign(now, from, p.Ring)
	case *wire.TokenHoldCancel:
		if m.state == Operational && p.Ring == m.cur.ID() {
			m.cur.StepHoldCancel(now)
		}
	}
	m.drain(now)
}

func (m *Machine) handleToken(now time.Duration, t *wire.Token) {
	if (m.state == Operational || m.state == Recovery) && t.Ring == m.cur.ID() {
		if m.rec != nil {
			m.rec.progress = true
		}
		m.cur.StepToken(now, t)
	}
}

func (m *Machine) handleMcast(now time.Duration, from wire.NodeID, msg *wire.Mcast) {
	switch {
	case m.cur != nil && msg.Ring == m.cur.ID():
		if m.rec != nil {
			m.rec.progress = true
		}
		m.cur.StepMcast(now, msg)
	case m.old != nil && msg.Ring == m.old.ID():
		// Late old-ring messages count until recovery starts. From then on the set of old
		// messages is what the members exchange on the new ring: one that reached us
		// directly, after we chose what to re-send, might reach no other member.
		if m.state != Recovery {
			m.old.StepMcast(now, msg)
		}
	default:
		m.handleForeign(now, from, msg.Ring)
	}
}

// handleForeign reacts to a packet of another ring: a partition healed or a processor
// started, so the rings should merge. Messages of rings we have already left (older
// rings of our own members) are stale, not foreign.
func (m *Machine) handleForeign(now time.Duration, from wire.NodeID, id wire.RingID) {
	switch m.state {
	case Operational:
		if id == m.regID || (setHas(m.regMembers, from) && id.Seq <= m.regID.Seq) {
			return
		}
		m.shiftToGather(now, "foreign ring "+id.String())
		m.addToProc(now, from)
	case Gather:
		m.addToProc(now, from)
	}
}

func (m *Machine) addToProc(now time.Duration, id wire.NodeID) {
	if setHas(m.proc, id) {
		return
	}
	m.proc = setAdd(m.proc, id)
	m.restartGather(now)
}

// drain collects the rings' outputs into the machine's Ready.
func (m *Machine) drain(now time.Duration) {
	if m.old != nil {
		rd := m.old.Ready()
		m.oldHeld = append(m.oldHeld, rd.Deliver...)
	}
	if m.cur == nil {
		return
	}
	rd := m.cur.Ready()
	m.ready.Multicast = append(m.ready.Multicast, rd.Multicast...)
	m.ready.Unicast = append(m.ready.Unicast, rd.Unicast...)
	for _, msg := range rd.Deliver {
		m.deliverFromCurrent(now, msg)
	}
	if m.rec != nil {
		for _, v := range rd.Visits {
			m.recoveryVisit(v)
		}
	}
	for _, f := range rd.Faults {
		if m.handleFault(now, f) {
			return
		}
	}
	if m.rec != nil && m.rec.install {
		m.install(now)
	}
	m.feed(now)
}

// deliverFromCurrent routes one delivery of the current ring.
func (m *Machine) deliverFromCurrent(now time.Duration, msg *wire.Mcast) {
	switch {
	case msg.Recovered != nil:
		// A recovery copy: store the original in the old ring (if it is ours).
		if m.old != nil && msg.Recovered.Ring == m.old.ID() {
			m.old.StepMcast(now, msg.Recovered)
			m.oldHeld = append(m.oldHeld, m.old.Ready().Deliver...)
		}
	case m.state == Operational:
		m.ready.Events = append(m.ready.Events, Event{Msg: msg})
	default:
		m.newHeld = append(m.newHeld, msg)
	}
}

// handleFault reacts to a condition the ring cannot handle; it reports whether the ring
// was abandoned.
func (m *Machine) handleFault(now time.Duration, f ring.Fault) bool {
	switch f.Kind {
	case ring.FaultTokenLost:
		m.shiftToGatherBecause(now, Transition{Reason: "token lost: none from " + f.From.String() + " for " + f.Waited.String(),
			Failure: true, Waited: f.Waited, Suspects: []wire.NodeID{f.From}})
		return true
	case ring.FaultFailedToReceive:
		// Totem: a processor that cannot receive what the others hold declares itself
		// failed, so that the rest can go on; it forms a ring alone and merges back when
		// it can receive again.
		members := m.cur.Members()
		m.shiftToGatherBecause(now, Transition{Reason: "failed to receive: this node misses messages the others no longer keep", Failure: true})
		m.fail = setAdd(m.fail, setMinus(members, []wire.NodeID{m.self})...)
		m.proc = setAdd(m.proc, m.fail...)
		m.restartGather(now)
		return true
	}
	return false
}

// Tick fires the timers that are due at now.
func (m *Machine) Tick(now time.Duration) {
	switch m.state {
	case Gather:
		if now >= m.consensusAt {
			m.consensusTimeout(now)
		} else if now >= m.joinAt {
			m.sendJoin()
			m.joinAt = now + m.cfg.Join
			// Alone (nobody answered a join interval): form a ring by ourselves now
			// rather than at the consensus timeout.
			m.checkConsensus(now)
		}
	case Commit, Recovery:
		if m.state == Commit && now >= m.commitLossAt {
			m.shiftToGatherBecause(now, Transition{Reason: "commit token lost: not back within " + m.cfg.Ring.TokenTimeout.String(),
				Failure: true, Waited: m.cfg.Ring.TokenTimeout})
			break
		}
		if m.commitCopy != nil && m.commitResendAt != 0 && now >= m.commitResendAt {
			if m.rec != nil && m.rec.progress {
				m.commitResendAt = 0
			} else {
				m.sendCommit()
				m.commitResendAt = now + m.cfg.Ring.TokenRetransmit
			}
		}
	case Operational:
		if len(m.regMembers) == 1 && !m.cur.Started() {
			m.cur.Start(now) // a one-member ring, formed at the previous step
		}
		if m.self == m.regID.Rep && len(m.regMembers) >= 1 && now >= m.mergeAt {
			m.ready.Multicast = append(m.ready.Multicast, &wire.MergeDetect{Ring: m.regID})
			m.mergeAt = now + m.cfg.Merge
		}
	}
	if m.cur != nil {
		m.cur.Tick(now)
	}
	m.drain(now)
}

// Deadline is when Tick should next be called (0: none), without draining Ready.
func (m *Machine) Deadline() time.Duration { return m.deadline() }

func (m *Machine) deadline() time.Duration {
	var d time.Duration
	arm := func(t time.Duration) {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	switch m.state {
	case Gather:
		arm(m.joinAt)
		arm(m.consensusAt)
	case Commit:
		arm(m.commitLossAt)
		arm(m.commitResendAt)
	case Recovery:
		arm(m.commitResendAt)
	case Operational:
		if m.self == m.regID.Rep {
			arm(m.mergeAt)
		}
		if len(m.regMembers) == 1 && !m.cur.Started() {
			arm(1) // due at once
		}
	}
	if m.cur != nil {
		arm(m.cur.Deadline())
	}
	return d
}
