package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/totem-gcs/totem/totem/proto"
)

// Client is one connection to a totem daemon: one session of its node. Its methods
// are safe for concurrent use; requests are answered in the order the daemon reads
// them, one at a time.
//
// Events must be read: the daemon queues a bounded number of events for each client
// and disconnects one that falls further behind (ErrSlowConsumer). A program that only
// sends still receives its own messages in the groups it joined.
type Client struct {
	conn *net.UnixConn
	fr   *proto.FrameReader
	info Info
	name string // the name given in the hello

	events  chan Event
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the reader has returned

	mu      sync.Mutex
	pending map[uint32]chan *proto.ServerFrame
	nextID  uint32
	err     error

	// The write side (writer.go).
	wmu    sync.Mutex
	wbuf   []byte // frames waiting for the writer
	werr   error  // set once a write failed: the connection is gone
	wkick  chan struct{}
	wspace chan struct{}
	wdone  chan struct{} // closed when the writer has returned

	closeOnce sync.Once
}

// Option configures Dial.
type Option func(*options)

type options struct {
	name   string
	events int
}

// WithName sets the name other members see (default: the program's name). At most 255
// bytes.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithEventBuffer sets how many events the client holds for the program beyond what the
// daemon queues (default 1024, at least 64). Replies travel on the same connection behind
// events: a program must keep reading Events, or once the buffer is full its calls wait
// and the daemon eventually disconnects it as a slow consumer.
func WithEventBuffer(n int) Option { return func(o *options) { o.events = max(n, minEventBuffer) } }

// minEventBuffer leaves room for the views and messages a program's own calls cause
// (its join's view, its own messages) while it waits for their replies.
const minEventBuffer = 64

// handshakeLimit bounds the first frame, read before the daemon announces its limit.
const handshakeLimit = 64 << 10

// Dial connects to the daemon's socket at path and performs the handshake. ctx bounds
// both; once Dial returns, it no longer matters.
func Dial(ctx context.Context, path string, opts ...Option) (*Client, error) {
	o := options{name: filepath.Base(os.Args[0]), events: 1024}
	for _, opt := range opts {
		opt(&o)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w: %w", path, ErrDaemonGone, err)
	}
	c := &Client{
		conn:    nc.(*net.UnixConn),
		wkick:   make(chan struct{}, 1),
		wspace:  make(chan struct{}, 1),
		wdone:   make(chan struct{}),
		events:  make(chan Event, o.events),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[uint32]chan *proto.ServerFrame),
		name:    o.name,
	}
	c.fr = proto.NewFrameReader(c.conn, handshakeLimit)
	if err := c.handshake(ctx, o.name); err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("client: dial %s: %w", path, err)
	}
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// aLongTimeAgo is a deadline in the past: it makes a blocked read or write return.
var aLongTimeAgo = time.Unix(1, 0)

// handshake sends hello and reads the welcome, synchronously (the reader does not run
// yet).
func (c *Client) handshake(ctx context.Context, name string) error {
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	hello, err := proto.AppendFrame(nil, &proto.Request{Type: proto.TypeHello, ID: 1, Version: proto.Version, Name: name})
	if err != nil {
		return err
	}
	_, werr := c.conn.Write(hello)
	// Read even when the write failed: a daemon that refuses us says why first.
	f, rerr := c.readFrame()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case rerr != nil && werr != nil:
		return fmt.Errorf("%w: %w", ErrDaemonGone, werr)
	case rerr != nil:
		return rerr
	case f.Type == proto.TypeError:
		return errorOf(f)
	case f.Type != proto.TypeWelcome || f.ID != 1:
		return fmt.Errorf("%w: handshake answered with %q id %d", ErrProtocol, f.Type, f.ID)
	case f.Version < 1 || f.Version > proto.Version:
		return fmt.Errorf("%w: daemon chose version %d", ErrVersion, f.Version)
	}
	if !stop() { // the hook ran or runs: ctx is done, the deadline is spoilt
		return ctx.Err()
	}
	c.nextID = 1
	c.info = infoOf(f)
	c.fr.SetMax(int(f.MaxFrame))
	return nil
}

func infoOf(f *proto.ServerFrame) Info {
	levels := make([]Level, len(f.Levels))
	for i, l := range f.Levels {
		levels[i] = Level(l)
	}
	return Info{
		Version: f.Version, NodeID: f.NodeID, Session: f.Session, PID: f.PID,
		MaxMessage: int(f.MaxMessage), Levels: levels,
	}
}

// readFrame reads and decodes one frame.
func (c *Client) readFrame() (*proto.ServerFrame, error) {
	body, err := c.fr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDaemonGone, err)
	}
	f := new(proto.ServerFrame)
	if proto.DecodeServerFrameFast(body, f) {
		return f, nil
	}
	*f = proto.ServerFrame{}
	if err := proto.Decode(body, f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return f, nil
}

// Info returns what the daemon said in the handshake.
func (c *Client) Info() Info { return c.info }

// Events returns the stream of messages and views of the groups the client joined. It
// is closed when the connection ends; Err then says why.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended: ErrClosed after Close, an error matching
// ErrDaemonGone (and the daemon's reason, if it gave one) otherwise; nil while open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Close ends the connection; the daemon removes the client from its groups (the other
// members see the reason "disconnect"). It waits for the client's reader and writer to
// stop; requests not yet written are dropped.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.setErr(ErrClosed)
		close(c.closing)
		c.conn.Close()
	})
	<-c.done
	<-c.wdone
	return nil
}

// readLoop reads every frame: replies go to their callers, events to Events. A full
// Events blocks it, which is how a program that does not keep up slows the daemon's
// writer until the daemon cuts it off.
func (c *Client) readLoop() {
	var reason *Error // what the daemon said before closing, if anything
	defer func() {
		c.conn.Close()
		close(c.done)
		close(c.events)
	}()
	for {
		f, err := c.readFrame()
		if err != nil {
			c.setErr(lostErr(reason, err))
			return
		}
		switch {
		case f.Type == proto.TypeError && (f.Fatal || f.ID == 0):
			if reason == nil && f.Fatal {
				reason = errorOf(f)
			}
			c.reply(f)
		case f.ID != 0:
			c.reply(f)
		default:
			if !c.deliver(f) {
				return
			}
		}
	}
}

// lostErr says why the connection was lost: the daemon's reason when it gave one.
func lostErr(reason *Error, err error) error {
	if errors.Is(err, ErrProtocol) {
		return err
	}
	if reason != nil {
		return fmt.Errorf("%w: %w", ErrDaemonGone, reason)
	}
	return err
}

func (c *Client) reply(f *proto.ServerFrame) {
	if f.ID == 0 {
		return
	}
	c.mu.Lock()
	ch := c.pending[f.ID]
	delete(c.pending, f.ID)
	c.mu.Unlock()
	if ch != nil {
		ch <- f // buffered: never blocks
	}
}

// deliver passes an event on; false when Close interrupted it.
func (c *Client) deliver(f *proto.ServerFrame) bool {
	ev, ok := eventOf(f)
	if !ok {
		return true
	}
	select {
	case c.events <- ev:
		return true
	case <-c.closing:
		return false
	}
}

// DefaultSocket is the daemon's socket unless it was told otherwise (see totemd
// --socket); programs take it as the default of their own --socket.
func DefaultSocket() string { return proto.DefaultSocket() }
