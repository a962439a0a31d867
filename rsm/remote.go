package rsm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/client"
)

// ErrNoReplica: no replica of the group is reachable (none is a member of the replicas'
// group as this client's daemon sees it).
var ErrNoReplica = errors.New("rsm: no replica reachable")

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	// ClientID identifies this client's commands for duplicate suppression. Zero picks a
	// random one; a client that reuses an id must continue its sequence numbers.
	ClientID uint64
	// FirstSeq is the sequence number of the first command, for a client that reuses
	// ClientID across processes. Default 1.
	FirstSeq uint64
	// Attempt bounds the wait for one replica's answer before the same request goes to
	// another. Default 2s.
	Attempt time.Duration
}

// ReplicaLister returns the current members of the replicas' group.
type ReplicaLister func(ctx context.Context) ([]Member, error)

// Remote is a client of replicas in other processes: a command goes to one replica's
// gateway (Replica.Serve), which runs it through the agreed order and replies. A request
// that gets no answer in time, or whose replica's node fails, goes to the next replica
// with the same client id and sequence number, so it is applied at most once. It prefers
// a replica on its own node.
//
// Propose calls are serialized: a client's commands must reach the order one after the
// other for the duplicate rule (a sequence number at or below the highest applied is a
// duplicate) and the client order guarantee to hold. Reads may run concurrently.
type Remote struct {
	ch       Channel
	replicas ReplicaLister
	cfg      RemoteConfig

	proposeMu sync.Mutex // one command at a time
	nextSeq   uint64     // guarded by proposeMu

	mu       sync.Mutex
	nextRead uint64
	pending  map[remoteKey]chan *replyMsg
	downs    []chan wire.NodeID // one per call in flight: nodes that failed
	err      error              // why the receiver stopped

	cancel  context.CancelFunc
	done    chan struct{}
	onClose func() error // closes what the constructor opened
}

type remoteKey struct {
	seq  uint64
	read bool
}

// NewRemote starts a client that sends requests through ch (a channel joined to
// ClientsGroup of the replicas' group) and finds replicas with replicas. Close it when
// done; it does not close ch.
func NewRemote(ch Channel, replicas ReplicaLister, cfg RemoteConfig) *Remote {
	if cfg.ClientID == 0 {
		cfg.ClientID = rand.Uint64() | 1
	}
	if cfg.FirstSeq == 0 {
		cfg.FirstSeq = 1
	}
	if cfg.Attempt <= 0 {
		cfg.Attempt = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Remote{
		ch: ch, replicas: replicas, cfg: cfg, nextSeq: cfg.FirstSeq,
		pending: make(map[remoteKey]chan *replyMsg),
		cancel:  cancel, done: make(chan struct{}),
	}
	go c.receive(ctx)
	return c
}

// Connect joins ClientsGroup(group) with c and returns a Remote for the replicas of
// group. The Remote must be c's only reader; close c after the Remote.
func Connect(ctx context.Context, c client.Conn, group string, cfg RemoteConfig) (*Remote, error) {
	ch, err := JoinGroup(ctx, c, ClientsGroup(group))
	if err != nil {
		return nil, err
	}
	list := func(ctx context.Context) ([]Member, error) {
		ms, err := c.Members(ctx, group)
		if err != nil {
			return nil, fmt.Errorf("rsm: list replicas: %w", err)
		}
		return members(ms), nil
	}
	return NewRemote(ch, list, cfg), nil
}

// ClientID is this client's id.
func (c *Remote) ClientID() uint64 { return c.cfg.ClientID }

// Close stops the client; calls in progress fail with ErrStopped.
func (c *Remote) Close() error {
	c.cancel()
	<-c.done
	if c.onClose != nil {
		return c.onClose()
	}
	return nil
}

// Propose applies cmd through the agreed order at some replica and returns its result.
// ErrNoQuorum means every reachable replica is in a minority (the command may have been
// applied; a later Propose is ordered after it either way); ErrNotReady that none holds
// the state yet; ErrNoReplica that none is a member.
func (c *Remote) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	c.proposeMu.Lock()
	defer c.proposeMu.Unlock()
	seq := c.nextSeq
	c.nextSeq++
	return c.call(ctx, &requestMsg{Client: c.cfg.ClientID, Seq: seq, Data: cmd})
}

// Read answers query linearizably at some replica (see Replica.Read).
func (c *Remote) Read(ctx context.Context, query []byte) ([]byte, error) {
	c.mu.Lock()
	c.nextRead++
	seq := c.nextRead
	c.mu.Unlock()
	return c.call(ctx, &requestMsg{Client: c.cfg.ClientID, Seq: seq, Read: true, Data: query})
}

// call sends req to one replica after another until one answers it or every one has
// refused it. Replicas that time out are tried again after the others.
func (c *Remote) call(ctx context.Context, req *requestMsg) ([]byte, error) {
	key := remoteKey{req.Seq, req.Read}
	replies, downs := make(chan *replyMsg, 4), make(chan wire.NodeID, 4)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.pending[key] = replies
	c.downs = append(c.downs, downs)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, key)
		c.downs = slices.DeleteFunc(c.downs, func(d chan wire.NodeID) bool { return d == downs })
		c.mu.Unlock()
	}()

	refused := make(map[Member]error) // replicas that answered with an error this call
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 && ctx.Err() == nil {
			// Every replica was tried: pause before the next pass (it is bounded by ctx).
			select {
			case <-time.After(min(time.Duration(attempt)*50*time.Millisecond, time.Second)):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), lastErr)
		}
		targets, err := c.replicas(ctx)
		if err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			lastErr = ErrNoReplica
			continue
		}
		order := c.order(targets)
		progressed := false
		for _, t := range order {
			if _, ok := refused[t]; ok {
				continue
			}
			progressed = true
			res, err, final := c.ask(ctx, t, req, replies, downs)
			if final {
				return res, err
			}
			lastErr = err
			if err != nil && !errors.Is(err, errAttempt) {
				refused[t] = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		if !progressed {
			// Every listed replica refused: answer with the refusal rather than wait.
			return nil, firstRefusal(order, refused)
		}
	}
}

var errAttempt = errors.New("rsm: no answer from replica")

// ask sends req to target and waits for its answer, the attempt timeout, or target's
// node failing. final reports that the caller has its answer.
func (c *Remote) ask(ctx context.Context, target Member, req *requestMsg, replies chan *replyMsg, downs chan wire.NodeID) (res []byte, err error, final bool) {
	r := *req
	r.Target = pack(target)
	if err := sendAgreed(ctx, c.ch, encode(kindRequest, &r)); err != nil {
		return nil, fmt.Errorf("rsm: send request: %w", err), ctx.Err() == nil
	}
	timer := time.NewTimer(c.cfg.Attempt)
	defer timer.Stop()
	for {
		select {
		case m := <-replies:
			err := errOfReply(m)
			switch {
			case err != nil && m.From != r.Target:
				continue // a refusal from a replica asked earlier
			case err == nil:
				return m.Result, nil, true
			case errors.Is(err, ErrExpired):
				return nil, err, true
			case m.Code == codeFailed:
				return nil, err, true // the state machine or the channel failed: not retryable
			}
			return nil, fmt.Errorf("replica %v: %w", target, err), false
		case node := <-downs:
			if node == target.Node {
				return nil, fmt.Errorf("replica %v: node down: %w", target, errAttempt), false
			}
		case <-timer.C:
			return nil, fmt.Errorf("replica %v: %w", target, errAttempt), false
		case <-ctx.Done():
			return nil, ctx.Err(), false
		case <-c.done:
			return nil, c.stoppedErr(), true
		}
	}
}

// order lists the replicas to try: those on this client's node first, then the others
// from a random start, so that clients spread over the replicas.
func (c *Remote) order(ms []Member) []Member {
	self := c.ch.Self().Node
	out := make([]Member, 0, len(ms))
	var rest []Member
	for _, m := range ms {
		if m.Node == self {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	if len(rest) > 0 {
		k := rand.IntN(len(rest))
		out = append(out, rest[k:]...)
		out = append(out, rest[:k]...)
	}
	return out
}

func firstRefusal(order []Member, refused map[Member]error) error {
	var errs []error
	for _, m := range order {
		errs = append(errs, refused[m])
	}
	// The sentinel of the first refusal leads, so that errors.Is finds it.
	for _, e := range []error{ErrNoQuorum, ErrNotReady, ErrBusy, ErrStopped} {
		if errors.Is(errs[0], e) {
			return fmt.Errorf("%w (all %d replicas refused: %w)", e, len(errs), errors.Join(errs...))
		}
	}
	return errors.Join(errs...)
}

func (c *Remote) stoppedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// receive routes replies to the calls waiting for them, and node failures to every call.
func (c *Remote) receive(ctx context.Context) {
	defer close(c.done)
	for {
		ev, err := c.ch.Recv(ctx)
		if err != nil {
			c.mu.Lock()
			if ctx.Err() != nil {
				c.err = ErrStopped
			} else {
				c.err = fmt.Errorf("rsm: remote client: %w", err)
			}
			c.mu.Unlock()
			return
		}
		if ev.View != nil {
			c.nodesDown(ev.View)
			continue
		}
		k, v, err := decode(ev.Data)
		m, ok := v.(*replyMsg)
		if err != nil || k != kindReply || !ok || m.Client != c.cfg.ClientID {
			continue
		}
		c.mu.Lock()
		ch := c.pending[remoteKey{m.Seq, m.Read}]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // the call has more answers than it can use
			}
		}
	}
}

func (c *Remote) nodesDown(v *View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range v.Left {
		if l.Reason != string(client.ReasonNodeDown) {
			continue
		}
		for _, d := range c.downs {
			select {
			case d <- l.Member.Node:
			default:
			}
		}
	}
}
