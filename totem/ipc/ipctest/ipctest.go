// Package ipctest runs a totem daemon inside a test: a one-node ring on the simulated
// network, driven in real time, served on a Unix socket in a temporary directory.
package ipctest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/ipc"
)

// Daemon is a node and its socket server. Everything it starts stops in the test's
// cleanup, which waits for it.
type Daemon struct {
	Node   *totem.Node
	Socket string // the socket's path
	Config totem.Config

	stopServe context.CancelFunc
	served    chan error // Serve's result, buffered
	serveOnce sync.Once
	serveErr  error
	stopNode  context.CancelFunc
	nodeDone  chan struct{}
}

// Options tunes a Daemon.
type Options struct {
	// Config, if set, adjusts the node's configuration (after FastConfig).
	Config func(*totem.Config)
	// Server is passed to ipc.Serve; its MaxMessageSize is set from the node's and its
	// Logger defaults to the test's output.
	Server ipc.ServerOptions
}

// FastConfig scales the protocol's timers down for a one-node ring in tests.
func FastConfig() totem.Config {
	cfg := totem.DefaultConfig(1)
	cfg.Membership.Join = 10 * time.Millisecond
	cfg.Membership.Consensus = 100 * time.Millisecond
	cfg.Membership.Ring.TokenTimeout = 200 * time.Millisecond
	cfg.Membership.Ring.TokenRetransmit = 50 * time.Millisecond
	cfg.Membership.Ring.Hold = 20 * time.Millisecond
	cfg.Membership.Merge = 100 * time.Millisecond
	return cfg
}

// StalledRing is an Options.Config that keeps the node gathering for an hour: no ring
// forms, so nothing it accepts is ever sent, and its small queues (4 datagrams, 4
// records) fill after a few messages. It is how tests meet backpressure on demand.
func StalledRing(c *totem.Config) {
	c.Membership.Join = time.Hour
	c.Membership.Consensus = time.Hour
	c.Membership.Ring.SendQueueMax = 4
	c.MaxPendingRecords = 4
}

// Start runs a daemon until the test ends.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := FastConfig()
	if o.Config != nil {
		o.Config(&cfg)
	}
	cfg.Logger = log.With("component", "node")
	net := simnet.New(1, simnet.Config{})
	net.AddNode(cfg.NodeID)
	node, err := totem.New(cfg, net.Endpoint(cfg.NodeID, 1400))
	if err != nil {
		t.Fatalf("totem.New: %v", err)
	}
	d := &Daemon{Node: node, Socket: SocketPath(t), Config: cfg, served: make(chan error, 1), nodeDone: make(chan struct{})}
	ln, err := ipc.Listen(d.Socket, 0)
	if err != nil {
		t.Fatal(err)
	}
	so := o.Server
	so.MaxMessageSize = cfg.MaxMessageSize
	if so.Logger == nil {
		so.Logger = log.With("component", "ipc")
	}
	ctx, cancel := context.WithCancel(context.Background())
	serveCtx, stopServe := context.WithCancel(ctx)
	nodeCtx, stopNode := context.WithCancel(ctx)
	d.stopServe, d.stopNode = stopServe, stopNode
	var wg sync.WaitGroup
	wg.Go(func() { net.Run(ctx, time.Millisecond) })
	wg.Go(func() {
		defer close(d.nodeDone)
		node.Run(nodeCtx)
	})
	wg.Go(func() { d.served <- ipc.Serve(serveCtx, ln, node, so) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return d
}

// StopServing cancels Serve's context and returns its result once it has returned.
// The node keeps running.
func (d *Daemon) StopServing(ctx context.Context) error {
	d.stopServe()
	return d.ServeResult(ctx)
}

// StopNode stops the node (as a daemon's shutdown does, before its server notices)
// and waits for its Run to return.
func (d *Daemon) StopNode(ctx context.Context) error {
	d.stopNode()
	select {
	case <-d.nodeDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeResult waits for Serve to return by itself (without canceling it) and returns
// its result.
func (d *Daemon) ServeResult(ctx context.Context) error {
	d.serveOnce.Do(func() {
		select {
		case d.serveErr = <-d.served:
		case <-ctx.Done():
			d.serveErr = ctx.Err()
		}
	})
	return d.serveErr
}

// SocketPath returns a socket path in a fresh temporary directory, short enough for
// the ~107 bytes a Unix socket path may have.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 {
		var err error
		if dir, err = os.MkdirTemp("", "totem"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "d.sock")
}

// WaitOperational waits until the node has formed its ring.
func (d *Daemon) WaitOperational(ctx context.Context) error {
	for d.Node.Status().State != membership.Operational {
		select {
		case <-ctx.Done():
			return errors.New("ipctest: node not operational: " + d.Node.Status().State.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// operationalTimeout bounds StartOperational's wait for a one-node ring.
const operationalTimeout = 20 * time.Second

// StartOperational is Start, then a wait (bounded) until the node has formed its ring:
// what most tests of clients want before they dial.
func StartOperational(t testing.TB, o Options) *Daemon {
	t.Helper()
	d := Start(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), operationalTimeout)
	defer cancel()
	if err := d.WaitOperational(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}
