package clustersim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/groups"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/rsm"
)

// The replicated state machine in the simulation: the group simulation with one rsm
// replica on every processor, in group rsmGroup, driven by Step as rsm.Replica.Run would
// drive it over a totem session, beside the group workload's sessions. The state machine
// is a log: a command is an operation's id, applying it appends the id and returns its
// index. So the final log says exactly in which order the operations took effect, and
// each answer where its operation is in it; CheckReplicas then checks that the answers
// are linearizable and that the replicas agree. A crashed processor loses its replica;
// a restarted one starts a new replica, empty, which must take a state transfer.

// rsmGroup is the replicas' group.
const rsmGroup = "rsm"

// replicaCalmStart is how long a replica simulation runs before its first fault.
const replicaCalmStart = 500 * time.Millisecond

// rsmMaxInFlight bounds the operations one replica has waiting for their answer.
const rsmMaxInFlight = 4

// ReplicaOp is one operation a replica was asked to propose.
type ReplicaOp struct {
	ID       uint64 // unique in the run; the command
	Node     wire.NodeID
	Inc      int           // the processor's incarnation (IncarnationLog.Index)
	At       time.Duration // simulated time of the call
	Invoke   int64         // step of the call
	Complete int64         // step of the answer (0: none: crashed, or the run ended)
	Index    uint64
	Err      error // the answer was an error: the outcome is unknown
	Gen      int   // the history it was answered in (ReplicaHistory.Generation)
}

// ReplicaRead is one linearizable read a replica was asked for: the length of the log.
type ReplicaRead struct {
	Node     wire.NodeID
	Invoke   int64
	Complete int64  // 0: no answer
	Len      uint64 // the answer: how many operations the log held
	Err      error
	Gen      int // the history it was answered in
}

// ReplicaFinal is a replica's state when the run settled.
type ReplicaFinal struct {
	Node   wire.NodeID
	Status rsm.Status
	Log    []uint64
}

// ReplicaHistory is what the replicas did in one run.
type ReplicaHistory struct {
	Seed  uint64
	Ops   []*ReplicaOp
	Reads []*ReplicaRead
	Final []ReplicaFinal // every replica alive at the end, by node
	// Refused counts proposals refused at once (no quorum, not ready): nothing was sent.
	Refused int
	// Generation counts the histories: the replicas keep their state in memory, so when
	// the last replica holding the latest epoch's state is gone (crashed or left), that
	// state is lost, and the replicas go on from an older one (or the initial state).
	// Answers are checked against the final log of their own history only.
	Generation int
	// LatestEpoch is the highest epoch a replica completed in the final history: a
	// replica that holds it, synced, at the end lets every replica become ready.
	LatestEpoch uint64
}

// simReplica is one processor's replica in its current incarnation.
type simReplica struct {
	r        *rsm.Replica
	sm       *logMachine
	handle   uint32
	inFlight int
	last     rsm.Status // as last noted in the timeline
}

// logMachine is the replicated state: the ids of the commands applied, in order.
type logMachine struct{ ids []uint64 }

func (l *logMachine) Apply(cmd []byte) []byte {
	if len(cmd) != 8 {
		return nil
	}
	l.ids = append(l.ids, binary.BigEndian.Uint64(cmd))
	return binary.BigEndian.AppendUint64(nil, uint64(len(l.ids)))
}

// Query answers a read: the log's length.
func (l *logMachine) Query([]byte) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(len(l.ids)))
}

func (l *logMachine) Snapshot(w io.Writer) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(len(l.ids)))
	for _, id := range l.ids {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	_, err := w.Write(b)
	return err
}

func (l *logMachine) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(b) < 8 || uint64(len(b)-8) != 8*binary.BigEndian.Uint64(b) {
		return errors.New("log machine: malformed snapshot")
	}
	l.ids = l.ids[:0]
	for i := 8; i < len(b); i += 8 {
		l.ids = append(l.ids, binary.BigEndian.Uint64(b[i:]))
	}
	return nil
}

// simChannel is a replica's rsm.Channel: its session of the processor's group layer.
// Receive is never called: the simulation steps the replica with each delivery.
type simChannel struct {
	g      *groups.Machine
	self   rsm.Member
	handle uint32
}

func (ch *simChannel) Self() rsm.Member { return ch.self }

func (ch *simChannel) Send(_ context.Context, data []byte) error {
	return ch.g.Multicast(ch.handle, rsmGroup, data, true)
}

func (ch *simChannel) SendAgreed(_ context.Context, data []byte) error {
	return ch.g.Multicast(ch.handle, rsmGroup, data, false)
}

func (ch *simChannel) Recv(context.Context) (rsm.Event, error) {
	return rsm.Event{}, errors.New("simulation: the replica is stepped, not run")
}

// startReplica gives a (re)started processor a new, empty replica.
func (gs *groupSim) startReplica(c *Cluster, n *cnode, gn *gnode) error {
	gn.nextHandle++
	h := gn.nextHandle
	// Replicas' PIDs are apart from the sessions', which number the session logs.
	gs.rsm.nextPID++
	gn.g.Open(h, 1<<31|gs.rsm.nextPID, fmt.Sprintf("n%d.i%d.replica", n.id, gn.inc.Index))
	if err := gn.g.Join(h, rsmGroup); err != nil {
		return err
	}
	sm := &logMachine{}
	ch := &simChannel{g: gn.g, self: rsm.Member{Node: n.id, Session: h}, handle: h}
	r, err := rsm.New(rsm.Config{
		Replicas: c.p.Nodes, ChunkSize: 512,
		ClientID: gs.rng.Uint64() | 1, Instance: gs.rng.Uint64() | 1,
	}, sm, ch)
	if err != nil {
		return err
	}
	gn.replica = &simReplica{r: r, sm: sm, handle: h}
	return nil
}

// stepReplica hands the replica one event of its group and sends what it asks.
func (gs *groupSim) stepReplica(c *Cluster, n *cnode, gn *gnode, ev groups.Event) {
	sr := gn.replica
	var rev rsm.Event
	if v := ev.View; v != nil {
		rv := &rsm.View{Members: make([]rsm.Member, len(v.Members))}
		for i, m := range v.Members {
			rv.Members[i] = rsm.Member{Node: m.Node, Session: m.Session}
		}
		for _, ch := range v.Joined {
			rv.Joined = append(rv.Joined, rsm.Change{Member: rsm.Member{Node: ch.Member.Node, Session: ch.Member.Session}, Reason: ch.Reason.String()})
		}
		for _, ch := range v.Left {
			rv.Left = append(rv.Left, rsm.Change{Member: rsm.Member{Node: ch.Member.Node, Session: ch.Member.Session}, Reason: ch.Reason.String()})
		}
		rev.View = rv
	} else {
		rev.Sender, rev.Data = rsm.Member{Node: ev.Sender.Node, Session: ev.Sender.Session}, ev.Data
	}
	if err := sr.r.Step(rev); err != nil {
		c.fail("node %d: replica: %v", n.id, err)
		return
	}
	st := sr.r.Status()
	gs.rsm.hist.LatestEpoch = max(gs.rsm.hist.LatestEpoch, st.Epoch)
	if st.Ready != sr.last.Ready || st.Epoch != sr.last.Epoch || st.Synced != sr.last.Synced || st.Quorum != sr.last.Quorum {
		c.note("node %d replica: ready=%v quorum=%v synced=%v epoch=%d applied=%d log=%d view=%v", n.id, st.Ready, st.Quorum, st.Synced, st.Epoch, st.Applied, len(sr.sm.ids), st.Members)
		sr.last = st
	}
	for _, o := range sr.r.TakeOutgoing() {
		if err := gn.g.Multicast(sr.handle, rsmGroup, o.Data, !o.Agreed); err != nil {
			c.fail("node %d: replica's multicast: %v", n.id, err)
		}
	}
}

// ask sends one request to the processor's replica, as a client of it would, unless it
// has rsmMaxInFlight waiting; a replica that cannot serve refuses at once (counted as
// Refused). send makes the request with the callback it is given; settle records the
// answer. It reports whether the request went out.
func (gs *groupSim) ask(gn *gnode, send func(done func([]byte, error)) error, settle func(res []byte, err error)) bool {
	sr := gn.replica
	if sr == nil || sr.inFlight >= rsmMaxInFlight {
		return false
	}
	err := send(func(res []byte, err error) {
		sr.inFlight--
		settle(res, err)
	})
	if err != nil {
		gs.rsm.hist.Refused++
		return false
	}
	sr.inFlight++
	return true
}

// propose asks the processor's replica to append a new operation.
func (gs *groupSim) propose(c *Cluster, n *cnode, gn *gnode) {
	var op *ReplicaOp
	send := func(done func([]byte, error)) error {
		gs.rsm.nextOp++
		op = &ReplicaOp{ID: gs.rsm.nextOp, Node: n.id, Inc: gn.inc.Index, At: c.now, Invoke: gs.nextStep()}
		return gn.replica.r.ProposeAsync(binary.BigEndian.AppendUint64(nil, op.ID), done)
	}
	settle := func(res []byte, err error) {
		op.Complete, op.Gen = gs.step, gs.rsm.hist.Generation
		switch {
		case err != nil:
			op.Err = err
		case len(res) != 8:
			op.Err = fmt.Errorf("result %x is not an index", res)
		default:
			op.Index = binary.BigEndian.Uint64(res)
		}
	}
	if gs.ask(gn, send, settle) {
		gs.rsm.hist.Ops = append(gs.rsm.hist.Ops, op)
	}
}

// read asks the processor's replica how long the log is, linearizably.
func (gs *groupSim) read(n *cnode, gn *gnode) {
	var rd *ReplicaRead
	send := func(done func([]byte, error)) error {
		rd = &ReplicaRead{Node: n.id, Invoke: gs.nextStep()}
		return gn.replica.r.ReadAsync(nil, done)
	}
	settle := func(res []byte, err error) {
		rd.Complete, rd.Gen = gs.step, gs.rsm.hist.Generation
		switch {
		case err != nil:
			rd.Err = err
		case len(res) != 8:
			rd.Err = fmt.Errorf("answer %x is not a length", res)
		default:
			rd.Len = binary.BigEndian.Uint64(res)
		}
	}
	if gs.ask(gn, send, settle) {
		gs.rsm.hist.Reads = append(gs.rsm.hist.Reads, rd)
	}
}

// rsmSim is the replicas' part of a group simulation.
type rsmSim struct {
	hist    ReplicaHistory
	nextOp  uint64
	nextPID uint32
}

// RSMProperty names one property CheckReplicas checks.
type RSMProperty string

// The properties of the replicated log.
const (
	// RSMOnce: no log holds an operation twice (duplicate suppression).
	RSMOnce RSMProperty = "RSM-1 at-most-once"
	// RSMAgreement: the replicas ready at the end hold the same log, at the same index
	// and digest.
	RSMAgreement RSMProperty = "RSM-2 agreement"
	// RSMDurable: every answered operation is in the final log, at the index its
	// answer gave (no answered write is lost or moved).
	RSMDurable RSMProperty = "RSM-3 durability"
	// RSMRealTime: an operation answered before another was invoked comes before it in
	// the log (linearizability, with RSM-3).
	RSMRealTime RSMProperty = "RSM-4 real-time-order"
	// RSMReads: a read's answer is a length of the final log that holds every operation
	// answered before the read was invoked and none invoked after it was answered, and
	// a read answered before another was invoked answered no more than it.
	RSMReads RSMProperty = "RSM-6 linearizable-reads"
	// RSMLive: after the faults every processor is up in one ring, so every replica
	// must end up ready (Config.Replicas of them are present) unless no surviving
	// replica holds the latest state, which the history shows.
	RSMLive RSMProperty = "RSM-5 liveness"
)

// RSMViolation is one broken property.
type RSMViolation struct {
	Property RSMProperty
	Detail   string
}

// String returns the violation as "property: detail".
func (v RSMViolation) String() string { return fmt.Sprintf("%s: %s", v.Property, v.Detail) }

// CheckReplicas checks a run's replicas: their final logs and every answer.
func CheckReplicas(h ReplicaHistory) []RSMViolation {
	var out []RSMViolation
	report := func(p RSMProperty, format string, args ...any) {
		out = append(out, RSMViolation{p, fmt.Sprintf(format, args...)})
	}
	for _, f := range h.Final {
		seen := map[uint64]bool{}
		for i, id := range f.Log {
			if seen[id] {
				report(RSMOnce, "node %d: operation %d applied twice (again at index %d)", f.Node, id, i+1)
			}
			seen[id] = true
		}
	}
	var ref, holder *ReplicaFinal
	for i := range h.Final {
		if f := &h.Final[i]; f.Status.Synced && f.Status.Epoch == h.LatestEpoch && h.LatestEpoch > 0 {
			holder = f
		}
	}
	for i := range h.Final {
		if f := &h.Final[i]; holder != nil && !f.Status.Ready {
			report(RSMLive, "node %d is not ready at the end, though node %d holds the latest epoch (%d)", f.Node, holder.Node, h.LatestEpoch)
		}
	}
	for i := range h.Final {
		f := &h.Final[i]
		if !f.Status.Ready {
			continue
		}
		if ref == nil {
			ref = f
			continue
		}
		if f.Status.Applied != ref.Status.Applied || f.Status.Digest != ref.Status.Digest || !slices.Equal(f.Log, ref.Log) {
			report(RSMAgreement, "node %d holds %d operations (applied %d), node %d %d (applied %d), or their digests differ",
				f.Node, len(f.Log), f.Status.Applied, ref.Node, len(ref.Log), ref.Status.Applied)
		}
	}
	if ref == nil {
		return out
	}
	at := make(map[uint64]uint64, len(ref.Log)) // op id -> index in the final log
	for i, id := range ref.Log {
		at[id] = uint64(i + 1)
	}
	var answered []*ReplicaOp
	for _, op := range h.Ops {
		if op.Complete == 0 || op.Err != nil || op.Gen != h.Generation {
			continue
		}
		answered = append(answered, op)
		if got := at[op.ID]; got != op.Index {
			where := "absent from the final log"
			if got != 0 {
				where = fmt.Sprintf("at index %d of the final log", got)
			}
			report(RSMDurable, "operation %d (node %d) was answered with index %d, but is %s", op.ID, op.Node, op.Index, where)
		}
	}
	checkReads(h, ref, at, answered, report)
	// Real time: sorted by invocation, each answered operation must come after every
	// operation answered before it was invoked.
	slices.SortFunc(answered, func(a, b *ReplicaOp) int { return int(a.Invoke - b.Invoke) })
	byComplete := slices.Clone(answered)
	slices.SortFunc(byComplete, func(a, b *ReplicaOp) int { return int(a.Complete - b.Complete) })
	var highest *ReplicaOp // the answered-before operation with the highest index so far
	j := 0
	for _, op := range answered {
		for ; j < len(byComplete) && byComplete[j].Complete < op.Invoke; j++ {
			if highest == nil || byComplete[j].Index > highest.Index {
				highest = byComplete[j]
			}
		}
		if highest != nil && highest.Index >= op.Index {
			report(RSMRealTime, "operation %d (index %d) was answered before operation %d (index %d) was invoked",
				highest.ID, highest.Index, op.ID, op.Index)
		}
	}
	return out
}

// replicaGone starts a new history when no live replica holds the latest epoch's state:
// that state, and what was answered from it, is lost. The replicas go on from whatever
// state the survivors hold, an older epoch's (the survivors never heard of the newer
// one) or, when none holds any, the initial state.
func (gs *groupSim) replicaGone(c *Cluster) {
	h := &gs.rsm.hist
	if h.LatestEpoch == 0 {
		return // no history yet
	}
	var survivors uint64
	for _, n := range c.nodes {
		gn := gs.nodes[n.id]
		if !n.up || gn == nil || gn.replica == nil {
			continue
		}
		st := gn.replica.r.Status()
		if st.Synced && st.Epoch == h.LatestEpoch {
			return
		}
		survivors = max(survivors, st.Epoch)
	}
	h.Generation++
	c.note("replicas: the last one holding epoch %d's state is gone; a new history begins from epoch %d's", h.LatestEpoch, survivors)
	h.LatestEpoch = survivors
}

// checkReads checks every read answered in the final history against the final log
// (at: each operation's index in it) and the answered operations.
func checkReads(h ReplicaHistory, ref *ReplicaFinal, at map[uint64]uint64, answered []*ReplicaOp, report func(RSMProperty, string, ...any)) {
	var reads []*ReplicaRead
	for _, rd := range h.Reads {
		if rd.Complete != 0 && rd.Err == nil && rd.Gen == h.Generation {
			reads = append(reads, rd)
		}
	}
	for _, rd := range reads {
		if rd.Len > uint64(len(ref.Log)) {
			report(RSMReads, "node %d read a log of %d operations; the final log holds %d", rd.Node, rd.Len, len(ref.Log))
		}
		for _, op := range answered {
			if op.Complete < rd.Invoke && op.Index > rd.Len {
				report(RSMReads, "node %d read a log of %d operations after operation %d was answered with index %d", rd.Node, rd.Len, op.ID, op.Index)
				break
			}
		}
		for _, op := range h.Ops {
			if i := at[op.ID]; op.Invoke > rd.Complete && i != 0 && i <= rd.Len {
				report(RSMReads, "node %d read a log of %d operations, which holds operation %d (index %d), invoked after the answer", rd.Node, rd.Len, op.ID, i)
				break
			}
		}
		for _, other := range reads {
			if other.Complete < rd.Invoke && other.Len > rd.Len {
				report(RSMReads, "node %d read %d operations after node %d had read %d", rd.Node, rd.Len, other.Node, other.Len)
				break
			}
		}
	}
}

// finalReplicas records the state of every replica alive at the end.
func (gs *groupSim) finalReplicas(c *Cluster) {
	for _, n := range c.nodes {
		gn := gs.nodes[n.id]
		if !n.up || gn == nil || gn.replica == nil {
			continue
		}
		sr := gn.replica
		gs.rsm.hist.Final = append(gs.rsm.hist.Final, ReplicaFinal{Node: n.id, Status: sr.r.Status(), Log: slices.Clone(sr.sm.ids)})
	}
}

// replicasQuiet: every replica alive has an answer for each operation it took or the
// run cannot give one (it is not ready).
func (gs *groupSim) replicasQuiet(c *Cluster) bool {
	for _, n := range c.nodes {
		gn := gs.nodes[n.id]
		if n.up && gn != nil && gn.replica != nil && gn.replica.inFlight > 0 && gn.replica.r.Status().Ready {
			return false
		}
	}
	return true
}

// ReplicaResult is the outcome of one run of the replica simulation.
type ReplicaResult struct {
	GroupResult
	Replicas          ReplicaHistory
	ReplicaViolations []RSMViolation
	Answered          int // operations answered with an index
	ReadsAnswered     int // reads answered with a length
	Ready             int // replicas ready at the end
}

// Failed reports whether the run violated anything.
func (r ReplicaResult) Failed() bool { return r.GroupResult.Failed() || len(r.ReplicaViolations) > 0 }

// Report describes a failed run: the group report, then the replicas' violations.
func (r ReplicaResult) Report(tail int) string {
	var b strings.Builder
	b.WriteString(r.GroupResult.Report(tail))
	writeViolations(&b, "replica violations", r.ReplicaViolations)
	return b.String()
}

// RunReplicaCluster runs one seed of the group simulation with a replica of a
// replicated log on every processor, and checks the history against EVS, the group view
// properties and the replicas' (CheckReplicas).
//
// The faults begin after replicaCalmStart, but for one seed in four: a new cluster's
// replicas start only once all of them are present (rsm.Config.Replicas), so a nemesis
// that strikes first leaves most runs without a replicated state to test; the others
// test the replicas' start under faults (where a transfer is most often replaced by a
// newer round's).
func RunReplicaCluster(seed uint64, p ClusterParams) ReplicaResult {
	if seed%4 != 3 {
		p.Calm = max(p.Calm, replicaCalmStart)
	}
	gs := newGroupSim(seed)
	gs.rsm = &rsmSim{hist: ReplicaHistory{Seed: seed}}
	res := ReplicaResult{GroupResult: runGroups(seed, p, gs)}
	res.Replicas = gs.rsm.hist
	for _, op := range res.Replicas.Ops {
		if op.Complete != 0 && op.Err == nil {
			res.Answered++
		}
	}
	for _, rd := range res.Replicas.Reads {
		if rd.Complete != 0 && rd.Err == nil {
			res.ReadsAnswered++
		}
	}
	for _, f := range res.Replicas.Final {
		if f.Status.Ready {
			res.Ready++
		}
	}
	if res.ClusterResult.Err == nil {
		res.ReplicaViolations = CheckReplicas(res.Replicas)
	}
	return res
}
