package rsm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
)

// Replica is one replica of a state machine: it multicasts commands to the group,
// applies the group's commands in the agreed order while it belongs to the primary
// component, and hands its state to replicas that join. See the package documentation
// for the rules.
type Replica struct {
	cfg  Config
	sm   StateMachine
	qry  Querier // nil: reads are applied as commands
	ch   Channel
	self Member
	log  *slog.Logger
	out  *outbox

	loopState // owned by Run's goroutine

	mu         sync.Mutex // guards the fields below, shared with callers
	pub        Status
	pubBlocked bool
	started    bool
	stopped    bool
	stepped    bool          // driven by Step, not Run
	done       chan struct{} // closed when Run returns
	cmds       map[cmdKey][]*waiter
	reads      map[uint64]*waiter

	sendMu   sync.Mutex // orders this replica's own commands: seq order = send order
	nextSeq  uint64
	readMu   sync.Mutex
	nextRead uint64
}

// loopState is the replica's replicated state and protocol state; only the event loop
// touches it.
type loopState struct {
	view      []Member
	viewSeq   uint64 // counts this replica's view changes
	majority  bool   // the view holds a majority of Replicas (and this replica)
	promised  ballot // the highest ballot acked
	seen      uint64 // the highest ballot number heard of
	epoch     ballot // the last round completed
	synced    bool   // holds the state of epoch (no transfer pending)
	installed bool   // completed epoch's round with no view change since acking it
	blocked   bool   // the last round in this view could establish nothing
	applied   uint64
	digest    []byte
	dedup     *dedupTable
	round     *round
	hellos    map[Member][]Member // each member's latest announced view (leader's use)
	prepared  prepared
	await     *transfer
	stab      stability
	fatal     error // the state machine failed to snapshot or restore: Run ends
}

type prepared struct {
	ok      bool
	viewSeq uint64
	ballot  ballot
}

// Status describes a replica, for monitoring and tests.
type Status struct {
	Self     Member
	Members  []Member // the current view
	Quorum   bool     // the view holds a majority of Config.Replicas
	Synced   bool     // holds the state of the last epoch it knows
	Ready    bool     // serving: installed in the primary component and synced
	Epoch    uint64   // the last state-exchange round completed
	Applied  uint64   // commands applied (duplicates included): the log index
	Digest   [sha256.Size]byte
	HaveView bool
}

type cmdKey struct{ client, seq uint64 }

// waiter is a Propose, Do or Read waiting for its answer.
type waiter struct {
	done      chan struct{}
	res       []byte
	err       error
	delivered bool                // ordered while the replica was not ready: look the result up later
	query     []byte              // reads
	notify    func([]byte, error) // ProposeAsync's and ReadAsync's callback
}

// New returns a replica of sm that talks through ch. It starts nothing: call Run.
func New(cfg Config, sm StateMachine, ch Channel) (*Replica, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ClientID == 0 {
		cfg.ClientID = rand.Uint64() | 1
	}
	if cfg.Instance == 0 {
		cfg.Instance = rand.Uint64()
	}
	r := &Replica{
		cfg: cfg, sm: sm, ch: ch, self: ch.Self(),
		done:  make(chan struct{}),
		cmds:  make(map[cmdKey][]*waiter),
		reads: make(map[uint64]*waiter),
	}
	r.qry, _ = sm.(Querier)
	r.log = cfg.Logger.With("replica", r.self.String())
	r.out = newOutbox(r.log)
	r.dedup = newDedup(cfg.MaxClients, cfg.ResultsPerClient)
	r.digest = make([]byte, sha256.Size)
	r.hellos = make(map[Member][]Member)
	r.pub.Self = r.self
	return r, nil
}

// Run runs the replica until ctx ends (it returns nil) or the channel fails (it returns
// why). It owns every goroutine it starts and returns once they have exited; callers
// waiting in Propose or Read then get ErrStopped. Close the channel afterwards (leave the
// group): a member that no longer answers holds up the other replicas' next state
// exchange. Run may be called once.
func (r *Replica) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.stepped {
		r.mu.Unlock()
		return errors.New("rsm: Run called twice, or on a replica that Step drives")
	}
	r.started = true
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.out.run(ctx, r.ch) })
	err := r.loop(ctx)
	cancel()
	wg.Wait()
	r.stop()
	return err
}

// Step handles one event of the group, in the agreed order, on the caller's goroutine:
// what Run does with each event the channel receives. It is for a caller that drives the
// replica itself (the seeded simulation) instead of calling Run; it then takes the
// protocol messages the replica wants multicast with TakeOutgoing after each Step. An
// error means the replica cannot go on (see Run).
func (r *Replica) Step(ev Event) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("rsm: Step on a replica that Run drives")
	}
	r.stepped = true
	r.mu.Unlock()
	return r.handle(ev)
}

// Outgoing is a protocol message a replica driven by Step wants multicast to its group,
// with safe delivery unless Agreed.
type Outgoing struct {
	Data   []byte
	Agreed bool
}

// TakeOutgoing removes and returns the protocol messages waiting to be sent, in the
// order Run would send them: control messages first, then snapshot chunks. For a
// replica driven by Step.
func (r *Replica) TakeOutgoing() []Outgoing {
	var out []Outgoing
	for {
		m, ok := r.out.next()
		if !ok {
			return out
		}
		out = append(out, Outgoing{Data: m.b, Agreed: m.agreed})
	}
}

func (r *Replica) loop(ctx context.Context) error {
	for {
		ev, err := r.ch.Recv(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rsm: channel: %w", err)
		}
		if err := r.handle(ev); err != nil {
			return err
		}
	}
}

func (r *Replica) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.pub.Ready = false
	r.failLocked(ErrStopped)
	close(r.done)
}

// Status returns the replica's current status.
func (r *Replica) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pub
}

// Done is closed when Run has returned.
func (r *Replica) Done() <-chan struct{} { return r.done }

// ClientID is the client id of this replica's own proposals.
func (r *Replica) ClientID() uint64 { return r.cfg.ClientID }
