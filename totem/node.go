package totem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/totem-gcs/totem/groups"
	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// Node is one totem processor: the protocol machines, a transport, the group table and
// the local sessions.
type Node struct {
	cfg     Config
	tr      multicast.Transport
	log     *slog.Logger
	cluster uint32
	// What the transport says about itself, if it does (status.go).
	heard     heardReporter
	transport string
	localAddr netip.AddrPort

	m     *membership.Machine
	g     *groups.Machine
	start time.Time

	// Pause detection (notePause): when the timer was due, and the last pause seen.
	timerDue  time.Time
	pausedFor time.Duration
	pausedAt  time.Time

	reqs    chan *request
	stopped chan struct{} // closed when Run returns

	// Owned by the loop.
	sessions   map[uint32]*Session
	nextHandle uint32
	waiting    []*request // multicasts blocked by backpressure, in arrival order
	budget     int        // payload bytes per datagram
	ring       wire.RingID
	members    []wire.NodeID
	buf        []byte
	batchBuf   [][]byte // encode buffers of a multicast batch, reused
	batch      [][]byte // the batch being sent

	statusMu     sync.Mutex
	status       Status
	statusGroups uint64 // the group table version status.Groups shows

	// Counters for Status, owned by the loop.
	transitions        map[Transition]uint64
	transitionsChanged bool        // since status.Transitions was copied from it
	ringsBefore        ring.Stats  // the counts of the rings before statsRing
	statsRing          wire.RingID // the last operational ring, whose counts are ringStats
	ringStats          ring.Stats
	deliveredAgreed    uint64 // totem messages delivered, by guarantee
	deliveredSafe      uint64
	deliveredBytes     uint64

	runOnce sync.Once
}

// Status is a snapshot of a node, for operators.
type Status struct {
	NodeID  wire.NodeID
	State   membership.State
	Ring    wire.RingID
	Members []wire.NodeID
	// Rotation is the smoothed token rotation time of the operational ring, as this node
	// measures it from forwarding the token to its return (0: not operational, or no
	// measurement yet).
	Rotation time.Duration
	// Authenticated: the transport authenticates every datagram (Config.Authenticated).
	Authenticated bool
	// Transport says how the node reaches the ring: "multicast GROUP:PORT" or "udpu"
	// ("" when the transport does not say).
	Transport string
	// Timers are the effective protocol timers.
	Timers Timers
	// Nodes lists, sorted by id, every configured node (Config.Nodes), every node the
	// transport has heard from and every member of the current ring, with its state
	// and when it was last heard. It is the caller's own.
	Nodes  []NodeStatus
	Groups map[string][]Member
	Stats  multicast.Stats

	// RingStats sums the counters of every ring this node has been operational in
	// (ring.Stats), its token rotation times included. A ring's counts are read while it
	// is operational: what a ring counts after this node left its operational state (the
	// messages it still receives while the next ring forms) is not included.
	RingStats ring.Stats
	// DeliveredAgreed and DeliveredSafe count the totem messages delivered here in the
	// total order since the node started, by guarantee (each message is a payload that
	// packs one or more records: client messages, group joins and leaves, group
	// announcements); DeliveredBytes counts their payload bytes.
	DeliveredAgreed, DeliveredSafe, DeliveredBytes uint64
	// Transitions counts the membership state changes since the node started, by states
	// and cause. It is shared by every caller of the same snapshot: read it, do not modify
	// it.
	Transitions map[Transition]uint64
	// Queued is the number of totem messages waiting for the token (on the ring, or for
	// a ring to form).
	Queued int
	// Pending is the number of records waiting to be packed into totem messages.
	Pending int
	// Waiting is the number of client multicasts held back by backpressure.
	Waiting int
	// Sessions is the number of open client sessions.
	Sessions int
}

// Transition is a change of the membership state, From To, with its cause: one of the
// fixed words TransitionCause returns.
type Transition struct {
	From, To membership.State
	Cause    string
}

// TransitionCause reduces a membership transition's reason (membership.Transition) to
// one of a fixed set of words, without the node ids, ring ids or errors it may name:
// start, join, merge (a foreign ring's traffic), consensus (no agreement in time),
// token_lost, failed_to_receive, commit_token (gather to commit), commit_token_lost,
// bad_commit_token, commit_token_complete (commit to recovery), installed (recovery to
// operational), leave, or other.
func TransitionCause(reason string) string {
	for _, c := range [...]struct{ prefix, cause string }{
		{"start", "start"},
		{"join from ", "join"},
		{"foreign ring", "merge"},
		{"consensus", "consensus"},
		{"token lost", "token_lost"},
		{"failed to receive", "failed_to_receive"},
		{"commit token lost", "commit_token_lost"},
		{"commit token complete", "commit_token_complete"},
		{"bad commit token", "bad_commit_token"},
		{"commit token", "commit_token"},
		{"installed", "installed"},
		{"leave", "leave"},
	} {
		if strings.HasPrefix(reason, c.prefix) {
			return c.cause
		}
	}
	return "other"
}

type reqKind uint8

const (
	reqOpen reqKind = iota + 1
	reqJoin
	reqLeave
	reqMcast
	reqMcastBatch
	reqClose
)

type request struct {
	kind  reqKind
	s     *Session
	group string
	data  []byte
	safe  bool
	reply chan error
	batch []*request // reqMcastBatch: its multicasts, answered on answers
	// A multicast of a batch: its index there, and the batch's channel of answers (one
	// channel for the whole batch, with room for every answer).
	idx     int
	answers chan answer
	// open
	pid    uint32
	name   string
	opened chan *Session
}

// answer is the node's answer to the multicast at index i of a batch.
type answer struct {
	i   int
	err error
}

// answer answers r: on its batch's channel if it is part of one.
func (r *request) answer(err error) {
	if r.answers != nil {
		r.answers <- answer{r.idx, err}
		return
	}
	r.reply <- err
}

// New returns a node that talks through tr. It starts nothing: call Run.
func New(cfg Config, tr multicast.Transport) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	budget := payloadBudget(tr.MaxPayload())
	g, err := groups.New(groups.Config{Self: cfg.NodeID, Budget: budget, MaxRecord: cfg.MaxMessageSize + groups.RecordOverhead})
	if err != nil {
		return nil, fmt.Errorf("totem: transport payload %d too small: %w", tr.MaxPayload(), err)
	}
	n := &Node{
		cfg: cfg, tr: tr, log: cfg.Logger.With("node", cfg.NodeID),
		cluster:  wire.ClusterHash(cfg.ClusterName),
		g:        g,
		reqs:     make(chan *request),
		stopped:  make(chan struct{}),
		sessions: make(map[uint32]*Session),
		budget:   budget,
	}
	n.heard, _ = transportAs[heardReporter](tr)
	n.transport = describeTransport(tr)
	if la, ok := transportAs[localAddrer](tr); ok {
		n.localAddr = la.LocalAddr()
	}
	return n, nil
}

// payloadBudget is what is left of a datagram for packed records once the worst-case
// headers are paid: the wire header and a recovery copy's two message headers, each with
// every number at its widest.
func payloadBudget(maxDatagram int) int {
	widest := wire.RingID{Rep: ^wire.NodeID(0), Seq: ^uint64(0)}
	inner := &wire.Mcast{Ring: widest, Seq: ^wire.Seq(0), Origin: ^wire.NodeID(0), Guarantee: wire.Safe, Payload: []byte{}}
	outer := &wire.Mcast{Ring: widest, Seq: ^wire.Seq(0), Origin: ^wire.NodeID(0), Guarantee: wire.Safe, Recovered: inner}
	b, err := wire.Append(nil, 0, 1, outer)
	if err != nil {
		panic(err)
	}
	const binHeaderGrowth = 2 * 4 // two payload length headers growing from bin8 to bin32
	return maxDatagram - len(b) - binHeaderGrowth
}

// Open starts a local session for a client with the given process id and name.
func (n *Node) Open(ctx context.Context, pid uint32, name string) (*Session, error) {
	if len(name) > MaxClientName {
		return nil, fmt.Errorf("totem: client name longer than %d bytes", MaxClientName)
	}
	r := &request{kind: reqOpen, pid: pid, name: name, opened: make(chan *Session, 1)}
	select {
	case n.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.stopped:
		return nil, ErrNodeStopped
	}
	select {
	case s := <-r.opened:
		return s, nil
	case <-n.stopped:
		return nil, ErrNodeStopped
	}
}

// Status returns a snapshot (safe to call from any goroutine). Its Groups map is shared
// by every caller of the same snapshot: read it, do not modify it.
func (n *Node) Status() Status {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	st := n.status
	st.Members = slices.Clone(st.Members)
	st.Stats = n.tr.Stats()
	st.Authenticated = n.cfg.Authenticated
	st.Transport, st.Timers = n.transport, timersOf(n.cfg.Membership)
	var heard []multicast.PeerSeen
	if n.heard != nil {
		heard = n.heard.Heard()
	}
	st.Nodes = nodeTable(n.cfg.NodeID, n.localAddr, n.cfg.Nodes, st.Members, heard)
	return st
}

// MaxMessageSize is the largest application message the node accepts.
func (n *Node) MaxMessageSize() int { return n.cfg.MaxMessageSize }

// Stopped is closed once Run has returned.
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// now is the monotonic time since Run started: the protocol's clock.
func (n *Node) now() time.Duration { return time.Since(n.start) }

// Run runs the node until ctx is canceled; then it announces a graceful leave, ends
// every session and returns. It may be called once.
func (n *Node) Run(ctx context.Context) error {
	err := errors.New("totem: Run called twice")
	n.runOnce.Do(func() { err = n.run(ctx) })
	return err
}

func (n *Node) run(ctx context.Context) error {
	defer close(n.stopped)
	n.start = time.Now()
	stored, err := loadRingSeq(n.cfg.StateDir)
	if err != nil {
		return err
	}
	n.m, err = membership.New(n.cfg.Membership, stored, 0)
	if err != nil {
		return err
	}
	n.log.Info("starting", "cluster", n.cfg.ClusterName, "ring_seq", stored)
	if err := n.flush(); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.arm(timer)
		select {
		case <-ctx.Done():
			n.shutdown()
			return nil
		case p, ok := <-n.tr.Packets():
			n.notePause()
			if !ok {
				n.shutdown()
				return errors.New("totem: transport closed")
			}
			n.receive(p)
		case r := <-n.reqs:
			n.notePause()
			n.handle(r)
		case <-timer.C:
			n.notePause()
			n.m.Tick(n.now())
		}
		if err := n.flush(); err != nil {
			n.shutdown()
			return err
		}
	}
}

// arm sets the timer to the machine's next deadline.
func (n *Node) arm(t *time.Timer) {
	n.notePause() // a pause while the loop was busy, not waiting
	d := time.Hour
	if dl := n.m.Deadline(); dl != 0 {
		d = max(0, dl-n.now())
	}
	n.timerDue = time.Now().Add(d)
	t.Reset(d)
}

// notePause checks, at every wakeup of the loop before it handles anything and again
// before the timer is re-armed, how far past its timer's deadline it is. Much later than the scheduler's usual slack means
// this process did not run (SIGSTOP, a paused VM, a starved host): the failures it is
// about to report are its own, not its peers'. (Checking only when the timer's own
// case runs misses the pause whenever a datagram wins the wakeup.)
func (n *Node) notePause() {
	late := time.Since(n.timerDue)
	if n.timerDue.IsZero() || late < pauseThreshold(n.cfg) {
		return
	}
	n.timerDue = time.Time{} // once per pause
	n.pausedFor, n.pausedAt = late, time.Now()
	n.log.Warn("this node was not running: its timer fired late (SIGSTOP, a paused VM or an overloaded host?); the membership changes that follow are probably its own doing",
		"late", late.Round(time.Millisecond))
}

// pauseThreshold is how late a timer must fire to count as a pause: a quarter of the
// token timeout, and never below 100 ms of scheduling noise.
func pauseThreshold(cfg Config) time.Duration {
	return max(100*time.Millisecond, cfg.Membership.Ring.TokenTimeout/4)
}

// logTransition writes one membership transition: a failure as a warning with its
// timer and suspects (and the pause that probably caused it, if this node was just
// paused), entering gather for a join or a merge and installing a ring at info, the
// steps between at debug.
func (n *Node) logTransition(tr membership.Transition) {
	attrs := []any{"from", tr.From, "to", tr.To, "ring", tr.Ring, "reason", tr.Reason}
	if tr.Waited > 0 {
		attrs = append(attrs, "waited", tr.Waited.Round(time.Millisecond))
	}
	if len(tr.Suspects) > 0 {
		attrs = append(attrs, "suspects", tr.Suspects)
	}
	switch {
	case tr.Failure:
		if n.pausedFor > 0 && time.Since(n.pausedAt) < 2*n.cfg.Membership.Ring.TokenTimeout {
			attrs = append(attrs, "after_pause", n.pausedFor.Round(time.Millisecond),
				"cause", "this node was paused, not its peers")
		}
		n.log.Warn("membership", attrs...)
	case tr.To == membership.Gather || tr.To == membership.Operational:
		n.log.Info("membership", attrs...)
	default:
		n.log.Debug("membership", attrs...)
	}
}

// receive handles one datagram and every other already waiting: messages first, tokens
// last, so that a token meets a store that reflects what has arrived.
func (n *Node) receive(first multicast.Packet) {
	batch := []multicast.Packet{first}
	for len(batch) < 1024 {
		select {
		case p, ok := <-n.tr.Packets():
			if !ok {
				goto step
			}
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
step:
	var tokens []stepped
	now := n.now()
	for _, p := range batch {
		h, pkt, err := wire.Decode(p.Data, n.cluster)
		if err != nil {
			n.log.Debug("drop undecodable datagram", "from", p.From, "err", err)
			continue
		}
		if h.Kind == wire.KindToken || h.Kind == wire.KindCommitToken {
			tokens = append(tokens, stepped{h.Sender, pkt})
			continue
		}
		n.m.Step(now, h.Sender, pkt)
	}
	for _, t := range tokens {
		n.m.Step(now, t.from, t.p)
	}
}

type stepped struct {
	from wire.NodeID
	p    wire.Packet
}

// flush acts on the machine's outputs until there are none: persist, send, deliver.
func (n *Node) flush() error {
	for range 64 {
		n.feed()
		rd := n.m.Ready()
		if rd.RingSeq != 0 {
			if err := storeRingSeq(n.cfg.StateDir, rd.RingSeq); err != nil {
				return err
			}
		}
		for _, tr := range rd.Transitions {
			n.logTransition(tr)
			if n.transitions == nil {
				n.transitions = make(map[Transition]uint64)
			}
			n.transitions[Transition{tr.From, tr.To, TransitionCause(tr.Reason)}]++
			n.transitionsChanged = true
		}
		n.multicast(rd.Multicast)
		for _, u := range rd.Unicast {
			n.send(u.To, u.Packet)
		}
		for _, ev := range rd.Events {
			if ev.Msg != nil {
				if ev.Msg.Guarantee == wire.Safe {
					n.deliveredSafe++
				} else {
					n.deliveredAgreed++
				}
				n.deliveredBytes += uint64(len(ev.Msg.Payload))
			}
			n.deliver(ev)
		}
		n.publishStatus()
		if len(rd.Multicast)+len(rd.Unicast)+len(rd.Events) == 0 && rd.RingSeq == 0 {
			return nil
		}
	}
	return nil
}

// batchMulticaster is a transport that sends many datagrams in one system call.
type batchMulticaster interface {
	MulticastBatch(bufs [][]byte) error
}

// multicast sends ps in order, in one batch where the transport can (a token visit
// sends up to MaxMessages at once).
func (n *Node) multicast(ps []wire.Packet) {
	bt, ok := n.tr.(batchMulticaster)
	if !ok || len(ps) < 2 {
		for _, p := range ps {
			n.send(0, p)
		}
		return
	}
	bufs := n.batch[:0]
	for i, p := range ps {
		if i == len(n.batchBuf) {
			n.batchBuf = append(n.batchBuf, nil)
		}
		b, err := wire.Append(n.batchBuf[i][:0], n.cluster, n.cfg.NodeID, p)
		if err != nil {
			n.log.Error("encode", "kind", p.Kind(), "err", err)
			continue
		}
		n.batchBuf[i] = b
		bufs = append(bufs, b)
	}
	n.batch = bufs
	if err := bt.MulticastBatch(bufs); err != nil {
		n.log.Warn("send", "to", "ring", "datagrams", len(bufs), "err", err)
	}
}

func (n *Node) send(to wire.NodeID, p wire.Packet) {
	var err error
	n.buf, err = wire.Append(n.buf[:0], n.cluster, n.cfg.NodeID, p)
	if err != nil {
		n.log.Error("encode", "kind", p.Kind(), "err", err)
		return
	}
	if to == 0 {
		err = n.tr.Multicast(n.buf)
	} else if to == n.cfg.NodeID {
		return
	} else {
		err = n.tr.Unicast(to, n.buf)
	}
	if err != nil && !errors.Is(err, multicast.ErrUnknownNode) {
		n.log.Warn("send", "to", to, "kind", p.Kind(), "err", err)
	}
}

// feed hands packed payloads to the machine while it has room, then unblocks waiting
// multicasts while the packer has room.
// sendAhead is how many payloads of budget bytes the node keeps queued at the ring of
// members nodes: sendAheadVisits token visits' worth, fewer if they would take more
// than SendQueueBytes, never fewer than two visits' worth, never more than the ring
// takes. A visit takes at most MaxMessages of them, and when every member sends, about
// its share of the window (WindowSize/members); the queue is refilled as soon as the
// token has left, so a few visits keep the ring as busy as any more would. More would
// only delay every message behind them by more rotations, which are longer the larger
// the ring, and hold memory.
func sendAhead(cfg Config, budget, members int) int {
	rc := cfg.Membership.Ring
	visit := min(rc.MaxMessages, max(1, (rc.WindowSize+members-1)/max(members, 1)))
	return min(rc.SendQueueMax, max(2*visit, min(sendAheadVisits*visit, cfg.SendQueueBytes/budget)))
}

// packerFull reports whether the records waiting to be packed are as many as
// MaxPendingRecords, or as many bytes as the payloads the node keeps queued at the ring
// (sendAhead): beyond that a multicast waits (backpressure). The byte bound keeps the
// backlog of large messages to a few token visits, as sendAhead does for packed ones.
func (n *Node) packerFull() bool {
	return n.g.Pending() >= n.cfg.MaxPendingRecords ||
		n.g.PendingBytes() >= n.budget*sendAhead(n.cfg, n.budget, len(n.members))
}

// sendAheadVisits is how many token visits' worth of payloads the node keeps queued.
const sendAheadVisits = 4

// feed moves packed payloads to the ring, up to sendAhead of them. While the ring has a
// whole visit's worth queued, only full payloads go: the records behind them wait in
// the packer to fill the next one, so a busy sender's datagrams are full however its
// requests arrive; a short queue takes whatever there is, so a lone message does not
// wait for company.
func (n *Node) feed() {
	now := n.now()
	limit, visit := n.cfg.Membership.Ring.SendQueueMax, n.cfg.Membership.Ring.MaxMessages
	ahead := sendAhead(n.cfg, n.budget, len(n.members))
	for {
		queued := limit - n.m.QueueSpace()
		if queued >= ahead || queued >= visit && n.g.PendingBytes() < n.budget {
			break
		}
		p, g, ok := n.g.NextPayload()
		if !ok {
			break
		}
		if err := n.m.Submit(now, p, g); err != nil {
			n.log.Error("submit", "err", err)
			break
		}
	}
	for len(n.waiting) > 0 && !n.packerFull() {
		r := n.waiting[0]
		n.waiting = n.waiting[1:]
		r.answer(n.enqueue(r))
	}
}

func (n *Node) publishStatus() {
	st := n.m.Status()
	n.statusMu.Lock()
	n.status.NodeID, n.status.State, n.status.Ring, n.status.Members = n.cfg.NodeID, st.State, st.Ring, st.Members
	n.status.Rotation = 0
	if rs, ok := n.m.RingStatus(); ok {
		n.status.Rotation = rs.Rotation
		if rs.Ring != n.statsRing {
			n.ringsBefore.Add(n.ringStats)
			n.statsRing = rs.Ring
		}
		n.ringStats = rs.Stats
	}
	n.status.RingStats = n.ringsBefore
	n.status.RingStats.Add(n.ringStats)
	n.status.DeliveredAgreed, n.status.DeliveredSafe, n.status.DeliveredBytes = n.deliveredAgreed, n.deliveredSafe, n.deliveredBytes
	if n.transitionsChanged {
		n.status.Transitions, n.transitionsChanged = maps.Clone(n.transitions), false
	}
	n.status.Queued, n.status.Pending, n.status.Waiting = st.Queued, n.g.Pending(), len(n.waiting)
	n.status.Sessions = len(n.sessions)
	if table, version := n.g.Groups(); n.status.Groups == nil || version != n.statusGroups {
		groups := make(map[string][]Member, len(table))
		for g, ms := range table {
			groups[g] = slices.Clone(ms)
		}
		n.status.Groups, n.statusGroups = groups, version
	}
	n.statusMu.Unlock()
}

// shutdown announces a graceful leave and ends every session.
func (n *Node) shutdown() {
	n.m.Leave(n.now())
	rd := n.m.Ready()
	for _, p := range rd.Multicast {
		n.send(0, p)
	}
	for _, s := range n.sessions {
		s.end(ErrNodeStopped)
	}
	for _, r := range n.waiting {
		r.answer(ErrNodeStopped)
	}
	n.log.Info("stopped")
}
