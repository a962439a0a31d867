package rsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Remote clients reach the replicas through a second group, ClientsGroup(group): the
// replicas' group counts its members as votes, so a client must not join it. A client
// multicasts a request naming the replica it asks (Target, that replica's member in the
// replicas' group); that replica's gateway (Serve) runs it through Do or Read and
// multicasts the reply. Requests and replies are ordinary messages of the clients
// group: nothing about them is replicated state, and a lost one costs a retry, which
// duplicate suppression makes safe.

// ClientsGroup names the group on which remote clients talk to the replicas of group.
func ClientsGroup(group string) string { return group + "/clients" }

// requestMsg is a remote client's command (Read false) or read.
type requestMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Target   uint64   // the replica asked (pack of its Member)
	Client   uint64
	Seq      uint64 // commands: the duplicate-suppression sequence; reads: just a tag
	Read     bool
	Data     []byte
}

// replyMsg answers a request. Code is empty on success.
type replyMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	From     uint64   // the replica answering
	Client   uint64
	Seq      uint64
	Read     bool
	Result   []byte
	Code     string
	Error    string
}

// Reply codes: the errors a remote client can act on, by name, so that errors.Is works
// on its side of the wire.
const (
	codeNoQuorum = "no-quorum"
	codeNotReady = "not-ready"
	codeStopped  = "stopped"
	codeExpired  = "expired"
	codeBusy     = "busy"
	codeTimeout  = "timeout"
	codeFailed   = "failed"
)

var codeErrs = map[string]error{
	codeNoQuorum: ErrNoQuorum,
	codeNotReady: ErrNotReady,
	codeStopped:  ErrStopped,
	codeExpired:  ErrExpired,
	codeBusy:     ErrBusy,
}

// ErrBusy: the replica asked already runs its maximum of remote requests.
var ErrBusy = errors.New("rsm: replica busy")

func codeOf(err error) string {
	for code, e := range codeErrs {
		if errors.Is(err, e) {
			return code
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codeTimeout
	}
	return codeFailed
}

// errOfReply is the error a reply carries, nil on success.
func errOfReply(m *replyMsg) error {
	if m.Code == "" {
		return nil
	}
	if e, ok := codeErrs[m.Code]; ok {
		return e
	}
	return fmt.Errorf("rsm: replica: %s: %s", m.Code, m.Error)
}

// ServeConfig bounds a gateway.
type ServeConfig struct {
	// MaxRequests bounds the requests in progress at once; more are answered ErrBusy.
	// Default 256.
	MaxRequests int
	// RequestTimeout bounds one request's wait for its command to be applied (which
	// only a stalled ring makes long: a lost majority fails it at once). Default 30s.
	RequestTimeout time.Duration
}

// Serve answers remote clients (Remote) through ch, a channel whose session has joined
// ClientsGroup of the replicas' group: not the replica's own channel, since a member of
// the replicas' group counts as a replica. It runs until ctx ends (it returns nil), ch
// fails, or the replica stops, and returns once every request it started has been
// answered or abandoned. Requests run concurrently: each is one Do or Read.
func (r *Replica) Serve(ctx context.Context, ch Channel, cfg ServeConfig) error {
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 256
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, cfg.MaxRequests)
	me := pack(r.self)
	for {
		ev, err := ch.Recv(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rsm: serve: %w", err)
		}
		if ev.View != nil {
			continue
		}
		k, v, err := decode(ev.Data)
		if err != nil {
			r.log.Debug("dropped malformed client message", "from", ev.Sender, "err", err)
			continue
		}
		req, ok := v.(*requestMsg)
		if k != kindRequest || !ok || req.Target != me {
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			r.reply(ctx, ch, req, nil, ErrBusy)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			rctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
			defer cancel()
			var res []byte
			var err error
			if req.Read {
				res, err = r.Read(rctx, req.Data)
			} else {
				res, err = r.Do(rctx, Command{Client: req.Client, Seq: req.Seq, Data: req.Data})
			}
			if ctx.Err() != nil {
				return // shutting down: the client asks another replica
			}
			r.reply(ctx, ch, req, res, err)
		})
	}
}

func (r *Replica) reply(ctx context.Context, ch Channel, req *requestMsg, res []byte, err error) {
	m := &replyMsg{From: req.Target, Client: req.Client, Seq: req.Seq, Read: req.Read, Result: res}
	if err != nil {
		m.Code, m.Error, m.Result = codeOf(err), err.Error(), nil
	}
	if err := sendAgreed(ctx, ch, encode(kindReply, m)); err != nil && ctx.Err() == nil {
		r.log.Warn("reply to remote client", "client", req.Client, "seq", req.Seq, "err", err)
	}
}
