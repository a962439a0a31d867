package totem

import (
	"context"
	"fmt"
	"sync"

	"github.com/totem-gcs/totem/totem/client"
)

// Session is a local client of the node: an in-process user, or one Unix socket
// connection of the daemon. Its methods are safe for concurrent use.
type Session struct {
	n      *Node
	handle uint32
	pid    uint32
	name   string
	box    *mailbox

	rmu     sync.Mutex // Receive's state
	taken   []Event
	next    int
	drained bool

	closeOnce sync.Once
	done      chan struct{}
	mu        sync.Mutex
	err       error
}

// Handle is the session's id on its node; with the node id it identifies a group member.
func (s *Session) Handle() uint32 { return s.handle }

var _ client.Conn = (*Session)(nil)

// Self returns the session's identity as a group member.
func (s *Session) Self() client.Member {
	return client.Member{Node: s.n.cfg.NodeID, Session: s.handle, PID: s.pid, Name: s.name}
}

// Receive returns the session's next event, a client.Message or a client.View,
// waiting for one until ctx ends. Once the session has closed and every event queued
// before is received, it returns the reason the session closed (ErrClosed,
// ErrSlowConsumer, ErrNodeStopped).
//
// The node never waits for a session: events queue for it up to Config.EventQueue
// events or Config.EventQueueBytes of payload, and a session that falls further
// behind is closed with ErrSlowConsumer.
func (s *Session) Receive(ctx context.Context) (client.Event, error) {
	ev, err := s.receive(ctx)
	if err != nil {
		return nil, err
	}
	return clientEvent(ev), nil
}

// receive returns the session's next event, waiting for one until ctx ends. Once the
// session has closed and every event queued before is received, it returns the reason
// the session closed (ErrClosed, ErrSlowConsumer, ErrNodeStopped).
//
// The node never waits for a session: events queue for it up to Config.EventQueue
// events or Config.EventQueueBytes of payload, and a session that falls further
// behind is closed with ErrSlowConsumer.
func (s *Session) receive(ctx context.Context) (Event, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for s.next == len(s.taken) {
		if s.drained {
			return Event{}, s.closedErr()
		}
		evs, open := s.box.take(s.taken)
		s.taken, s.next, s.drained = evs, 0, !open
		if len(evs) > 0 || !open {
			continue
		}
		select {
		case <-s.box.ready:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
	ev := s.taken[s.next]
	s.taken[s.next] = Event{}
	s.next++
	return ev, nil
}

// TakeEvents is Receive for a reader that handles events in batches (the daemon's
// connection writer): it returns every event queued so far, oldest first, without
// waiting, and false once the session has closed and nothing is left. The caller
// passes back the slice the previous call returned (nil at first) and must not keep
// it. EventsReady signals when there may be more. A session is read either with
// Receive or with TakeEvents, not both.
func (s *Session) TakeEvents(prev []Event) ([]Event, bool) { return s.box.take(prev) }

// EventsReady receives a value when events were queued for an empty session, or the
// session closed: the moment to call TakeEvents.
func (s *Session) EventsReady() <-chan struct{} { return s.box.ready }

// Err returns why the session closed (nil while open).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Join joins group. It returns once the join is queued for ordering; the view that shows
// the session as a member arrives on Events.
func (s *Session) Join(ctx context.Context, group string) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	return s.call(ctx, &request{kind: reqJoin, group: group})
}

// Leave leaves group.
func (s *Session) Leave(ctx context.Context, group string) error {
	return s.call(ctx, &request{kind: reqLeave, group: group})
}

// Multicast sends data to every member of group, which the session must have joined,
// at level: agreed, or safe (every member receives it only once every node holds it).
// It blocks while the node's send queue is full (backpressure) and honours ctx; a call
// canceled while blocked may still have been sent.
func (s *Session) Multicast(ctx context.Context, group string, data []byte, level client.Level) error {
	var safe bool
	switch level {
	case client.Agreed:
	case client.Safe:
		safe = true
	default:
		return fmt.Errorf("%w: %q (agreed or safe)", client.ErrBadLevel, level)
	}
	if len(data) > s.n.cfg.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(data), s.n.cfg.MaxMessageSize)
	}
	return s.call(ctx, &request{kind: reqMcast, group: group, data: data, safe: safe})
}

// Message is one multicast of a MulticastBatch.
type Message struct {
	Group string
	Data  []byte
	Safe  bool
}

// MulticastBatch is Multicast for several messages at the cost of one hand-off to the
// node: what a connection's pipelined requests need. The messages are ordered as given
// and each is accepted or refused on its own: answered(i, err) is called for each, in
// order, as soon as the node has answered it (err nil: accepted; ctx's error once ctx
// ends, and then the message may still be sent). answered returning false stops the
// wait for the rest.
func (s *Session) MulticastBatch(ctx context.Context, msgs []Message, answered func(i int, err error) bool) {
	subs := make([]request, len(msgs))
	b := &request{kind: reqMcastBatch, batch: make([]*request, 0, len(msgs))}
	answers := make(chan answer, len(msgs))
	refused := make([]bool, len(msgs))
	for i, m := range msgs {
		if len(m.Data) > s.n.cfg.MaxMessageSize {
			refused[i] = true // refused below, in its turn
			continue
		}
		subs[i] = request{kind: reqMcast, s: s, group: m.Group, data: m.Data, safe: m.Safe, idx: i, answers: answers}
		b.batch = append(b.batch, &subs[i])
	}
	var err error
	if len(b.batch) > 0 {
		err = s.submit(ctx, b)
	}
	// The node answers in any order; the caller hears them in order.
	got := make([]error, len(msgs))
	have := make([]bool, len(msgs))
	for i := range msgs {
		var e error
		switch {
		case refused[i]:
			e = fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(msgs[i].Data), s.n.cfg.MaxMessageSize)
		case err != nil:
			e = err // not submitted
		default:
			for !have[i] && err == nil {
				select {
				case a := <-answers:
					got[a.i], have[a.i] = a.err, true
				case <-ctx.Done():
					err = ctx.Err()
				case <-s.done:
					err = s.closedErr()
				}
			}
			e = got[i]
			if !have[i] {
				e = err // once ctx or the session ends, at once
			}
		}
		if !answered(i, e) {
			return
		}
	}
}

// Close leaves every group (members see the reason "disconnect") and ends the session.
func (s *Session) Close() error {
	select {
	case s.n.reqs <- &request{kind: reqClose, s: s, reply: make(chan error, 1)}:
	case <-s.n.stopped:
	case <-s.done:
	}
	<-s.done
	return nil
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) call(ctx context.Context, r *request) error {
	r.s = s
	r.reply = make(chan error, 1)
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	return s.await(ctx, r)
}

// submit hands r to the node's loop.
func (s *Session) submit(ctx context.Context, r *request) error {
	r.s = s
	select {
	case s.n.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.closedErr()
	case <-s.n.stopped:
		return ErrNodeStopped
	}
}

// await waits for the node's answer to r.
func (s *Session) await(ctx context.Context, r *request) error {
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.closedErr()
	}
}

func (s *Session) closedErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// end closes the session with a reason; run on the node's loop.
func (s *Session) end(err error) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		s.box.close()
		close(s.done)
	})
}

func checkGroup(g string) error {
	if g == "" || len(g) > MaxGroupName {
		return fmt.Errorf("%w: %q (1..%d bytes)", ErrBadGroup, g, MaxGroupName)
	}
	return nil
}

// clientEvent is a group event as client.Conn delivers it.
func clientEvent(ev Event) client.Event {
	if v := ev.View; v != nil {
		cv := client.View{Group: ev.Group, Members: make([]client.Member, len(v.Members)), Joined: clientChanges(v.Joined), Left: clientChanges(v.Left)}
		for i, m := range v.Members {
			cv.Members[i] = clientMember(m)
		}
		return cv
	}
	level := client.Agreed
	if ev.Safe {
		level = client.Safe
	}
	return client.Message{Group: ev.Group, Sender: clientMember(ev.Sender), Level: level, Safe: ev.Safe, Data: ev.Data}
}

func clientMember(m Member) client.Member {
	return client.Member{Node: m.Node, Session: m.Session, PID: m.PID, Name: m.Name}
}

func clientChanges(cs []Change) []client.Change {
	out := make([]client.Change, len(cs))
	for i, c := range cs {
		out[i] = client.Change{Member: clientMember(c.Member), Reason: client.Reason(c.Reason.String())}
	}
	return out
}

// Members lists group's members as the node knows them now.
func (s *Session) Members(ctx context.Context, group string) ([]client.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ms := s.n.Status().Groups[group]
	out := make([]client.Member, len(ms))
	for i, m := range ms {
		out[i] = clientMember(m)
	}
	return out, nil
}
