package ipc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/totem-gcs/totem/totem"
)

var errDeadline = os.ErrDeadlineExceeded

const (
	// batchBytes is how much the writer gathers before one write to the socket.
	batchBytes = 64 << 10
	// pollInterval is how often a writer blocked on a client that does not read checks
	// whether its session has ended (then it gives the client CloseTimeout more).
	pollInterval = 200 * time.Millisecond
)

// conn is one client connection after its handshake.
type conn struct {
	s    *server
	uc   *net.UnixConn
	fr   *FrameReader
	sess *totem.Session
	log  *slog.Logger

	// out carries replies from the reader to the writer. Unbuffered: once the reader
	// has handed a frame over, the writer writes it before it can notice that the
	// session the reader then closes has ended.
	out        chan *ServerFrame
	writerDone chan struct{} // closed when the writer has returned
}

// run serves requests until the client goes, the session ends or ctx is done.
func (c *conn) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop() })
	c.readLoop(ctx)
	c.sess.Close()
	wg.Wait()
}

// readLoop reads and handles one request at a time. It ends on a read error: the client
// left, the writer closed the socket, a framing error, or the shutdown hook's deadline.
func (c *conn) readLoop(ctx context.Context) {
	for {
		body, err := c.fr.Next()
		if err != nil {
			if f := c.s.readError(ctx, err); f != nil {
				c.log.Debug("closing connection", "code", f.Code, "err", err)
				c.send(f)
			}
			return
		}
		if !c.send(c.handle(ctx, body)) {
			return
		}
	}
}

// send hands a frame to the writer; false if the writer has gone.
func (c *conn) send(f *ServerFrame) bool {
	select {
	case c.out <- f:
		return true
	case <-c.writerDone:
		return false
	}
}

// writeLoop is the only writer of the socket. It ends when the session ends (having
// told the client why, when the node ended it) or a write fails; it then closes the
// socket, which ends the reader.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer c.uc.Close()
	w := &frameWriter{max: c.s.maxFrame, log: c.log}
	for {
		select {
		case <-c.sess.Done(): // first: a cut client gets its reason, not stale events
			c.finish(w)
			return
		default:
		}
		select {
		case <-c.sess.Done():
			c.finish(w)
			return
		case f := <-c.out:
			w.add(f)
		case ev, ok := <-c.sess.Events():
			if ok {
				w.addEvent(ev)
			}
		}
		c.gather(w)
		if err := c.flush(w, false); err != nil {
			c.log.Debug("write failed", "err", err)
			return
		}
	}
}

// gather takes frames that are ready, without blocking, until a batch is full.
func (c *conn) gather(w *frameWriter) {
	for len(w.buf) < batchBytes {
		select {
		case <-c.sess.Done():
			return
		case f := <-c.out:
			w.add(f)
		case ev, ok := <-c.sess.Events():
			if !ok {
				return
			}
			w.addEvent(ev)
		default:
			return
		}
	}
}

// finish tells the client why the node ended its session, if the node did.
func (c *conn) finish(w *frameWriter) {
	var f *ServerFrame
	switch err := c.sess.Err(); {
	case errors.Is(err, totem.ErrSlowConsumer):
		f = fatal(0, CodeSlowConsumer, err.Error())
	case errors.Is(err, totem.ErrNodeStopped):
		f = fatal(0, CodeShuttingDown, err.Error())
	default:
		return // closed by this side: the reader has said what there was to say
	}
	c.log.Debug("session ended by the node", "code", f.Code)
	w.add(f)
	if err := c.flush(w, true); err != nil {
		c.log.Debug("could not tell client why it is disconnected", "code", f.Code, "err", err)
	}
}

// flush writes the batch. A client that does not read blocks it; every pollInterval it
// checks whether the session has ended, and from then on (or from the start, when
// closing) allows CloseTimeout before it gives up.
func (c *conn) flush(w *frameWriter, closing bool) error {
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
		case c.ended():
			final = time.Now().Add(c.s.opts.CloseTimeout)
		}
	}
	return nil
}

func (c *conn) ended() bool {
	select {
	case <-c.sess.Done():
		return true
	default:
		return false
	}
}

// frameWriter gathers encoded frames for one write.
type frameWriter struct {
	buf []byte
	max int
	ev  ServerFrame // reused for events
	log *slog.Logger
}

// add encodes f. A reply that would exceed the frame limit (a huge groups listing) is
// replaced by a too_large error, so the client is never sent a frame it must refuse.
func (w *frameWriter) add(f *ServerFrame) {
	start := len(w.buf)
	b, err := AppendFrame(w.buf, f)
	if err == nil && len(b)-start-HeaderSize <= w.max {
		w.buf = b
		return
	}
	w.buf = b[:start]
	w.log.Warn("frame not sent", "type", f.Type, "size", len(b)-start, "err", err)
	if f.ID != 0 {
		w.buf, _ = AppendFrame(w.buf, errorFrame(f.ID, CodeTooLarge, "reply larger than max_frame"))
	}
}

func (w *frameWriter) addEvent(ev totem.Event) {
	eventFrame(&w.ev, ev)
	w.add(&w.ev)
	w.ev = ServerFrame{} // drop references to the event's data
}

func (w *frameWriter) reset() {
	if cap(w.buf) > 4*batchBytes {
		w.buf = nil // a large message passed: do not keep its buffer
		return
	}
	w.buf = w.buf[:0]
}
