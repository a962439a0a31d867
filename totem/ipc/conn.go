package ipc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/proto"
)

var errDeadline = os.ErrDeadlineExceeded

const (
	// batchBytes is how much the writer gathers before one write to the socket.
	batchBytes = 64 << 10
	// readAhead and readAheadBytes bound the requests the reader decodes ahead of the
	// handler: enough for a client's pipelined multicasts to reach the node in batches,
	// little enough that a held-back client is soon not read any further.
	readAhead      = 64
	readAheadBytes = 1 << 20
	// maxBatch bounds the multicasts handed to the node at once.
	maxBatch = readAhead
	// pollInterval is how often a writer blocked on a client that does not read checks
	// whether its session has ended (then it gives the client CloseTimeout more), and
	// how often a reader held back by backpressure checks that its client is still there.
	pollInterval = 200 * time.Millisecond
)

// conn is one client connection after its handshake. It has three goroutines:
//
//   - the reader reads and decodes requests and hands them to the handler, at most
//     readAhead of them (and readAheadBytes of their data) ahead of it, so a client
//     whose multicasts the node holds back is soon not read any further; but it
//     notices when the client goes away (by reading EOF, or by polling the socket for
//     a hangup while it waits), which cancels the held-back requests and closes the
//     session, so that the other members see it leave.
//   - the handler runs the requests against the session, in order, and hands the
//     replies to the writer. Consecutive multicasts already read go to the node as one
//     batch (Session.MulticastBatch): a client that pipelines its multicasts then pays
//     one hand-off to the node's loop per batch, not per message.
//   - the writer (writeLoop).
type conn struct {
	s    *server
	uc   *net.UnixConn
	fr   *proto.FrameReader
	sess *totem.Session
	log  *slog.Logger

	// replies carries replies from the handler to the writer, in order: a list under
	// rmu that the writer takes whole, so a batch of multicasts costs one hand-off, not
	// one per reply. It holds at most maxReplies; the handler waits beyond (rspace),
	// so a client that does not read its replies is not read further either. The writer
	// takes what is listed before it acts on the session's end: a reply handed over
	// before the handler closed the session is written first.
	rmu         sync.Mutex
	replies     []outReply
	rkick       chan struct{} // capacity 1: replies were added
	rspace      chan struct{} // capacity 1: the writer took the list
	writerDone  chan struct{} // closed when the writer has returned
	handlerDone chan struct{} // closed when the handler has returned

	spare     []outReply    // the writer's other reply list
	events    []totem.Event // events taken from the session, encoded up to nextEvent
	nextEvent int

	// The rule that a request's reply comes before any event it caused (a join's view,
	// a leave's view, a multicast's own message; docs/PROTOCOL.md §5.3). The node may
	// queue such an event before the handler has handed the reply over, so the writer
	// holds back an event of the client's own (self) while the request that may have
	// caused it is still pending: under rmu, pendingJoin and pendingLeave name the group
	// of a join or leave whose reply the writer has not taken (the handler runs one at a
	// time), pendingMcast counts the multicasts handed to the node whose replies it has
	// not taken. The writer alone counts the ok replies of multicasts it has taken
	// (okMcast) and the own messages it has written (ownMsgs): a sender's messages are
	// delivered in the order they were accepted, so own message k was caused by the
	// k-th accepted multicast, and may be written once okMcast >= k.
	self                      totem.Member // Node and Session of this client
	pendingJoin, pendingLeave string
	pendingMcast              int
	okMcast, ownMsgs          int64
	held                      bool // the next event waits for a reply
	repliesDone               bool // the handler has returned: nothing more to wait for

	queued   atomic.Int64  // bytes of multicast data read but not yet handled
	released chan struct{} // capacity 1: the handler released some
}

// item is what the reader hands the handler: a request, or a reply already decided
// (a decoding error, or the fatal error that ends the connection).
type item struct {
	req   *proto.Request
	reply *proto.ServerFrame
}

// run serves the connection until the client goes, the session ends or ctx is done.
func (c *conn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan item, readAhead)
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx) })
	wg.Go(func() { c.handleLoop(ctx, items) })
	c.readLoop(ctx, cancel, items)
	wg.Wait()
}

// readLoop reads requests until a read error: the client left, the writer closed the
// socket, a framing error, or the shutdown hook's deadline. Then it cancels whatever
// request is still running (nobody waits for it) and, when there is a reason to give,
// queues it behind that request's reply.
func (c *conn) readLoop(ctx context.Context, cancel context.CancelFunc, items chan<- item) {
	defer close(items)
	for {
		body, err := c.fr.Next()
		if err != nil {
			f := c.s.readError(ctx, err)
			cancel()
			if f != nil {
				c.log.Debug("closing connection", "code", f.Code, "err", err)
				c.queue(items, item{reply: f}, cancel)
			}
			return
		}
		if !c.queue(items, decodeRequest(body), cancel) {
			return
		}
	}
}

// queue hands an item to the handler; false if the handler has gone, or if the client
// went away while the handler was busy (then the running request is canceled).
func (c *conn) queue(items chan<- item, it item, cancel context.CancelFunc) bool {
	size := it.size()
	if c.roomFor(size) {
		select {
		case items <- it:
			c.queued.Add(size)
			return true
		case <-c.handlerDone:
			return false
		default:
		}
	}
	// The handler is behind, probably held back by backpressure: wait, but look at the
	// socket now and then, since a client that has gone is not read from meanwhile.
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var ready chan<- item
		if c.roomFor(size) {
			ready = items
		}
		select {
		case ready <- it:
			c.queued.Add(size)
			return true
		case <-c.released:
		case <-c.handlerDone:
			return false
		case <-tick.C:
			if peerGone(c.uc) {
				c.log.Debug("client gone while held back")
				cancel()
				return false
			}
		}
	}
}

// roomFor reports whether size more bytes fit the read-ahead budget (one item always
// fits when nothing is queued).
func (c *conn) roomFor(size int64) bool {
	q := c.queued.Load()
	return q == 0 || q+size <= readAheadBytes
}

// release returns n bytes of the read-ahead budget.
func (c *conn) release(n int64) {
	if n == 0 {
		return
	}
	c.queued.Add(-n)
	select {
	case c.released <- struct{}{}:
	default:
	}
}

func (it item) size() int64 {
	if it.req == nil {
		return 0
	}
	return int64(len(it.req.Data))
}

func (it item) isMulticast() bool { return it.req != nil && it.req.Type == proto.TypeMulticast }

// handleLoop runs requests in order until the reader stops or the writer goes, then
// closes the session, which ends the writer.
func (c *conn) handleLoop(ctx context.Context, items <-chan item) {
	defer close(c.handlerDone)
	defer c.sess.Close()
	var next *item // an item taken while gathering a batch, to run after it
	for {
		var it item
		if next != nil {
			it, next = *next, nil
		} else {
			var ok bool
			if it, ok = <-items; !ok {
				return
			}
		}
		if !it.isMulticast() {
			c.release(it.size())
			if !c.runItem(ctx, it) {
				return
			}
			continue
		}
		batch := []item{it}
	gather:
		for len(batch) < maxBatch {
			select {
			case nx, ok := <-items:
				if !ok {
					break gather // the next receive sees the end again
				}
				if !nx.isMulticast() {
					next = &nx
					break gather
				}
				batch = append(batch, nx)
			default:
				break gather
			}
		}
		ok := c.multicastBatch(ctx, batch)
		for _, it := range batch {
			c.release(it.size())
		}
		if !ok {
			return
		}
	}
}

// maxReplies bounds the replies waiting for the writer.
const maxReplies = 1024

// outReply is a reply on its way to the writer, and what kind of request it answers.
type outReply struct {
	f     *proto.ServerFrame
	cause cause
}

// cause is the kind of request that may cause an event of the client's own.
type cause uint8

const (
	causeNone cause = iota
	causeJoin
	causeLeave
	causeMulticast
)

// send hands a frame to the writer; false if the writer has gone.
func (c *conn) send(f *proto.ServerFrame) bool { return c.sendReply(f, causeNone) }

// pending records, before the handler hands the node a request that may cause an
// event of the client's own, that the request's reply is to precede that event.
func (c *conn) pending(k cause, group string, n int) {
	c.rmu.Lock()
	switch k {
	case causeJoin:
		c.pendingJoin = group
	case causeLeave:
		c.pendingLeave = group
	case causeMulticast:
		c.pendingMcast += n
	}
	c.rmu.Unlock()
}

// sendReply is send for the reply to a request marked pending.
func (c *conn) sendReply(f *proto.ServerFrame, k cause) bool {
	for {
		select {
		case <-c.writerDone:
			return false
		default:
		}
		c.rmu.Lock()
		if len(c.replies) < maxReplies {
			c.replies = append(c.replies, outReply{f, k})
			c.rmu.Unlock()
			select {
			case c.rkick <- struct{}{}:
			default:
			}
			return true
		}
		c.rmu.Unlock()
		select {
		case <-c.rspace:
		case <-c.writerDone:
			return false
		}
	}
}

// takeReplies adds the listed replies to w and reports whether one was fatal.
func (c *conn) takeReplies(w *frameWriter) (fatal bool) {
	c.rmu.Lock()
	fs := c.replies
	c.replies = c.spare[:0]
	for _, r := range fs {
		switch r.cause {
		case causeJoin:
			c.pendingJoin = ""
		case causeLeave:
			c.pendingLeave = ""
		case causeMulticast:
			c.pendingMcast--
			if r.f.Type == proto.TypeOK {
				c.okMcast++
			}
		}
	}
	c.rmu.Unlock()
	for i, r := range fs {
		w.add(r.f)
		fatal = fatal || r.f.Fatal
		fs[i] = outReply{}
	}
	c.spare = fs
	select {
	case c.rspace <- struct{}{}:
	default:
	}
	return fatal
}

// writeLoop is the only writer of the socket. It ends when the session ends (having
// told the client why, when the node ended it) or a write fails; it then closes the
// socket, which ends the reader. ctx only bounds how long it waits for a client that
// does not read once the server is stopping.
func (c *conn) writeLoop(ctx context.Context) {
	defer close(c.writerDone)
	defer c.uc.Close()
	w := &frameWriter{max: c.s.maxFrame, log: c.log}
	for {
		select {
		case <-c.sess.Done(): // first: a cut client gets its reason, not stale events
			c.end(ctx, w)
			return
		default:
		}
		if c.nextEvent == len(c.events) || c.held {
			// Waiting for an event, or, when held, for the reply it waits for.
			evReady, handlerDone := c.sess.EventsReady(), (<-chan struct{})(nil)
			if c.held {
				evReady, handlerDone = nil, c.handlerDone
			}
			select {
			case <-c.sess.Done():
				c.end(ctx, w)
				return
			case <-c.rkick:
				c.takeReplies(w)
			case <-evReady:
				c.refill()
			case <-handlerDone:
				c.takeReplies(w)
				c.repliesDone = true
			}
			c.held = false
		}
		c.gather(w)
		if err := c.flush(ctx, w, false); err != nil {
			c.log.Debug("write failed", "err", err)
			return
		}
	}
}

// gather encodes what is ready, without blocking, until a batch is full.
func (c *conn) gather(w *frameWriter) {
	for len(w.buf) < batchBytes {
		if c.nextEvent < len(c.events) {
			if c.holdBack(c.events[c.nextEvent]) {
				c.held = true
				return
			}
			w.addEvent(c.events[c.nextEvent])
			c.events[c.nextEvent] = totem.Event{}
			c.nextEvent++
			continue
		}
		select {
		case <-c.sess.Done():
			return
		case <-c.rkick:
			c.takeReplies(w)
		case <-c.sess.EventsReady():
			c.refill()
		default:
			return
		}
	}
}

// holdBack reports whether ev is an event of the client's own whose cause's reply
// has not been written yet (see conn.self); it counts the own messages it lets pass.
func (c *conn) holdBack(ev totem.Event) bool {
	if c.repliesDone {
		return false
	}
	if ev.View == nil {
		if ev.Sender.Node != c.self.Node || ev.Sender.Session != c.self.Session {
			return false
		}
		if c.ownMsgs < c.okMcast {
			c.ownMsgs++
			return false
		}
		c.rmu.Lock()
		wait := c.pendingMcast > 0
		c.rmu.Unlock()
		if !wait { // nothing pending could have caused it
			c.ownMsgs++
		}
		return wait
	}
	joined := c.isSelf(ev.View.Joined, totem.ReasonJoin)
	left := c.isSelf(ev.View.Left, totem.ReasonLeave)
	if !joined && !left {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return joined && c.pendingJoin == ev.Group || left && c.pendingLeave == ev.Group
}

// isSelf reports whether cs lists this client with reason r.
func (c *conn) isSelf(cs []totem.Change, r totem.Reason) bool {
	for _, ch := range cs {
		if ch.Member.Node == c.self.Node && ch.Member.Session == c.self.Session && ch.Reason == r {
			return true
		}
	}
	return false
}

// refill takes every event queued for the session; gather encodes them a batch at a
// time.
func (c *conn) refill() {
	c.events, _ = c.sess.TakeEvents(c.events)
	c.nextEvent = 0
}

// end writes the replies handed over before the session ended, then, unless one of
// them already told the client why it is cut off, finish.
func (c *conn) end(ctx context.Context, w *frameWriter) {
	told := c.takeReplies(w)
	if len(w.buf) > 0 {
		if err := c.flush(ctx, w, true); err != nil {
			c.log.Debug("write failed", "err", err)
			return
		}
	}
	if !told {
		c.finish(ctx, w)
	}
}

// finish tells the client why the node ended its session, if the node did.
func (c *conn) finish(ctx context.Context, w *frameWriter) {
	var f *proto.ServerFrame
	switch err := c.sess.Err(); {
	case errors.Is(err, totem.ErrSlowConsumer):
		f = fatal(0, proto.CodeSlowConsumer, err.Error())
	case errors.Is(err, totem.ErrNodeStopped):
		f = fatal(0, proto.CodeShuttingDown, err.Error())
	default:
		return // closed by this side: the reader has said what there was to say
	}
	c.log.Debug("session ended by the node", "code", f.Code)
	w.add(f)
	if err := c.flush(ctx, w, true); err != nil {
		c.log.Debug("could not tell client why it is disconnected", "code", f.Code, "err", err)
	}
}

// flush writes the batch. A client that does not read blocks it; every pollInterval it
// checks whether the session has ended or the server is stopping, and from then on (or
// from the start, when closing) allows CloseTimeout before it gives up.
func (c *conn) flush(ctx context.Context, w *frameWriter, closing bool) error {
	b := w.buf
	defer w.reset()
	var final time.Time
	if closing {
		final = time.Now().Add(c.s.opts.CloseTimeout)
	}
	for len(b) > 0 {
		deadline := final
		if deadline.IsZero() {
			deadline = time.Now().Add(pollInterval)
		}
		c.uc.SetWriteDeadline(deadline)
		n, err := c.uc.Write(b)
		b = b[n:]
		switch {
		case err == nil:
		case !errors.Is(err, errDeadline) || !final.IsZero():
			return err
		case c.ended(ctx):
			final = time.Now().Add(c.s.opts.CloseTimeout)
		}
	}
	return nil
}

func (c *conn) ended(ctx context.Context) bool {
	select {
	case <-c.sess.Done():
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// frameWriter gathers encoded frames for one write.
type frameWriter struct {
	buf []byte
	max int
	ev  proto.ServerFrame // reused for events
	log *slog.Logger
}

// add encodes f. A reply that would exceed the frame limit (a huge groups listing) is
// replaced by a too_large error, so the client is never sent a frame it must refuse.
func (w *frameWriter) add(f *proto.ServerFrame) {
	if f.Type == proto.TypeOK { // only ever type and id
		w.buf = proto.AppendOK(w.buf, f.ID)
		return
	}
	start := len(w.buf)
	b, err := proto.AppendFrame(w.buf, f)
	if err == nil && len(b)-start-proto.HeaderSize <= w.max {
		w.buf = b
		return
	}
	w.buf = b[:start]
	w.log.Warn("frame not sent", "type", f.Type, "size", len(b)-start, "err", err)
	if f.ID != 0 {
		w.buf, _ = proto.AppendFrame(w.buf, errorFrame(f.ID, proto.CodeTooLarge, "reply larger than max_frame"))
	}
}

func (w *frameWriter) addEvent(ev totem.Event) {
	if ev.View == nil {
		level := proto.LevelAgreed
		if ev.Safe {
			level = proto.LevelSafe
		}
		start := len(w.buf)
		w.buf = proto.AppendMessage(w.buf, ev.Group, member(ev.Sender), level, ev.Data)
		if len(w.buf)-start-proto.HeaderSize > w.max {
			w.buf = w.buf[:start]
			w.log.Warn("frame not sent", "type", proto.TypeMessage, "size", len(ev.Data))
		}
		return
	}
	eventFrame(&w.ev, ev)
	w.add(&w.ev)
	w.ev = proto.ServerFrame{} // drop references to the event's data
}

func (w *frameWriter) reset() {
	if cap(w.buf) > 4*batchBytes {
		w.buf = nil // a large message passed: do not keep its buffer
		return
	}
	w.buf = w.buf[:0]
}
