package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/proto"
)

// ServerOptions configures Serve. The zero value serves everyone who can open the
// socket, with the node's default limits.
type ServerOptions struct {
	// AllowUIDs and AllowGIDs restrict clients to these uids, or these primary gids.
	// Root is always allowed; with both empty, everyone is. See Allows.
	AllowUIDs []uint32
	AllowGIDs []uint32
	// MaxMessageSize must be the node's Config.MaxMessageSize: the welcome announces it
	// and the frame limit derives from it. Zero means DefaultMaxMessage.
	MaxMessageSize int
	// HelloTimeout bounds the wait for a new client's hello; a client that sends none
	// in time gets a fatal timeout error (docs/PROTOCOL.md §3). Default 5s. The
	// document names totemd's flag for it: --hello-timeout (config key hello-timeout).
	HelloTimeout time.Duration
	// CloseTimeout bounds how long a closing connection may take to write its last
	// frame (the reason it is closed) to a client that reads slowly. Default 2s.
	CloseTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = proto.DefaultMaxMessage
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 5 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// server is what every connection of one Serve call shares; read-only after Serve
// starts.
type server struct {
	n        *totem.Node
	opts     ServerOptions
	log      *slog.Logger
	maxFrame int
}

// Serve accepts clients on ln and serves each as one session of n, until ctx is
// canceled (it returns nil) or the node stops (it returns totem.ErrNodeStopped). Every
// client is then told why (shutting_down) and disconnected; Serve returns once every
// goroutine it started has exited, and it closes ln.
//
// Each connection handles one request at a time: a multicast that the node holds back
// under backpressure holds back that client's next requests, and no one else's. A
// writer owns the socket's write side and interleaves replies with the session's
// events (see conn).
func Serve(ctx context.Context, ln *net.UnixListener, n *totem.Node, opts ServerOptions) error {
	o := opts.withDefaults()
	s := &server{n: n, opts: o, log: o.Logger, maxFrame: proto.FrameLimit(o.MaxMessageSize)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg          sync.WaitGroup
		nodeStopped atomic.Bool
	)
	wg.Go(func() {
		select {
		case <-n.Stopped():
			nodeStopped.Store(true)
			cancel()
		case <-ctx.Done():
		}
		ln.Close() // unblocks Accept
	})
	s.log.Info("serving clients", "socket", ln.Addr().String())
	err := s.accept(ctx, ln, &wg)
	cancel()
	wg.Wait()
	s.log.Info("stopped serving clients", "socket", ln.Addr().String())
	if nodeStopped.Load() {
		return totem.ErrNodeStopped
	}
	return err
}

// accept runs the accept loop. Errors such as running out of file descriptors are
// retried with a growing pause, as net/http does, rather than ending the daemon.
func (s *server) accept(ctx context.Context, ln *net.UnixListener, wg *sync.WaitGroup) error {
	var pause time.Duration
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ipc: listener closed: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		wg.Go(func() { s.serveConn(ctx, uc) })
	}
}

// serveConn checks the peer, runs the handshake, then the connection's reader and
// writer; it returns once both have finished and the session is closed.
func (s *server) serveConn(ctx context.Context, uc *net.UnixConn) {
	defer uc.Close()
	cred, ok := s.admit(uc)
	if !ok {
		return
	}
	log := s.log.With("pid", cred.PID, "uid", cred.UID)
	// The hello deadline is set before the shutdown hook so the hook's past deadline,
	// if ctx is already done, wins.
	uc.SetReadDeadline(time.Now().Add(s.opts.HelloTimeout))
	stop := context.AfterFunc(ctx, func() { uc.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	fr := proto.NewFrameReader(uc, proto.HelloFrameMax) // max_frame is announced by the welcome
	sess, name := s.handshake(ctx, uc, fr, cred, log)
	if sess == nil {
		return
	}
	fr.SetMax(s.maxFrame)
	log = log.With("session", sess.Handle(), "name", name)
	log.Debug("client connected")
	c := &conn{
		s: s, uc: uc, fr: fr, sess: sess, log: log, self: totem.Member{Node: s.n.Status().NodeID, Session: sess.Handle()},
		rkick: make(chan struct{}, 1), rspace: make(chan struct{}, 1), writerDone: make(chan struct{}), handlerDone: make(chan struct{}), released: make(chan struct{}, 1),
	}
	c.run(ctx)
	log.Debug("client disconnected", "err", sess.Err())
}

// aLongTimeAgo is a deadline in the past: it makes a blocked read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// admit reads the peer's credentials and applies the uid/gid policy, telling a refused
// client why.
func (s *server) admit(uc *net.UnixConn) (Cred, bool) {
	cred, err := PeerCred(uc)
	if err != nil {
		restricted := len(s.opts.AllowUIDs)+len(s.opts.AllowGIDs) > 0
		s.log.Warn("no peer credentials", "err", err, "refused", restricted)
		if restricted {
			s.writeFinal(uc, fatal(0, proto.CodePermissionDenied, "peer credentials unavailable"))
			return cred, false
		}
		return Cred{}, true
	}
	if !s.opts.Allows(cred) {
		s.log.Warn("client refused", "pid", cred.PID, "uid", cred.UID, "gid", cred.GID)
		s.writeFinal(uc, fatal(0, proto.CodePermissionDenied,
			fmt.Sprintf("uid %d, gid %d not allowed", cred.UID, cred.GID)))
		return cred, false
	}
	return cred, true
}

// handshake reads the hello and opens the session; on failure it tells the client why
// and returns nil.
func (s *server) handshake(ctx context.Context, uc *net.UnixConn, fr *proto.FrameReader, cred Cred, log *slog.Logger) (*totem.Session, string) {
	body, err := fr.Next()
	if err != nil {
		if f := s.readError(ctx, err); f != nil {
			log.Debug("handshake failed", "err", err)
			s.writeFinal(uc, f)
		}
		return nil, ""
	}
	var req proto.Request
	if f := checkHello(body, &req); f != nil {
		log.Debug("handshake refused", "code", f.Code, "err", f.Message)
		s.writeFinal(uc, f)
		return nil, ""
	}
	sess, err := s.n.Open(ctx, cred.PID, req.Name)
	if err != nil {
		s.writeFinal(uc, fatal(req.ID, codeOf(err), err.Error()))
		return nil, ""
	}
	uc.SetReadDeadline(time.Time{})
	if ctx.Err() != nil { // the shutdown hook may have run before the line above
		sess.Close()
		s.writeFinal(uc, fatal(req.ID, proto.CodeShuttingDown, "daemon shutting down"))
		return nil, ""
	}
	if err := s.writeSync(uc, s.welcome(req, sess, cred)); err != nil {
		sess.Close()
		return nil, ""
	}
	return sess, req.Name
}

// checkHello decodes the first frame; it returns the fatal error frame to send when
// the frame is not an acceptable hello. A frame that is not a well-formed request is
// bad_request whatever it holds; only a well-formed request is judged by its type
// (docs/PROTOCOL.md §10.2).
func checkHello(body []byte, req *proto.Request) *proto.ServerFrame {
	if err := proto.ParseRequest(body, req); err != nil {
		return fatal(err.ID, proto.CodeBadRequest, err.Msg)
	}
	switch {
	case req.Type != proto.TypeHello:
		return fatal(req.ID, proto.CodeHelloRequired, fmt.Sprintf("first request is %q, want hello", req.Type))
	case req.Version < 1:
		return fatal(req.ID, proto.CodeBadVersion, fmt.Sprintf(`field "version" is %d (or missing): this server speaks 1..%d`, req.Version, proto.Version))
	case len(req.Name) > totem.MaxClientName:
		return fatal(req.ID, proto.CodeBadRequest, fmt.Sprintf(`field "name": %d bytes, longer than %d`, len(req.Name), totem.MaxClientName))
	case !proto.ValidName(req.Name):
		return fatal(req.ID, proto.CodeBadRequest, `field "name": not valid UTF-8`)
	}
	return nil
}

func (s *server) welcome(req proto.Request, sess *totem.Session, cred Cred) *proto.ServerFrame {
	return &proto.ServerFrame{
		Type:       proto.TypeWelcome,
		ID:         req.ID,
		Version:    min(req.Version, proto.Version),
		NodeID:     s.n.Status().NodeID,
		Session:    sess.Handle(),
		PID:        cred.PID,
		MaxMessage: uint32(s.opts.MaxMessageSize),
		MaxFrame:   uint32(s.maxFrame),
		Levels:     []string{proto.LevelAgreed, proto.LevelSafe},
	}
}

// readError says what to tell a client whose stream failed: nil when the client went
// away (nothing to tell).
func (s *server) readError(ctx context.Context, err error) *proto.ServerFrame {
	switch {
	case ctx.Err() != nil:
		return fatal(0, proto.CodeShuttingDown, "daemon shutting down")
	case errors.Is(err, proto.ErrFrameTooLarge):
		return fatal(0, proto.CodeFrameTooLarge, err.Error())
	case errors.Is(err, errDeadline):
		return fatal(0, proto.CodeTimeout, fmt.Sprintf("no hello within %s", s.opts.HelloTimeout))
	}
	return nil
}

// writeSync writes one frame before the connection's writer exists (or instead of it),
// bounded by CloseTimeout.
func (s *server) writeSync(uc *net.UnixConn, f *proto.ServerFrame) error {
	b, err := proto.AppendFrame(nil, f)
	if err != nil {
		return err
	}
	uc.SetWriteDeadline(time.Now().Add(s.opts.CloseTimeout))
	_, err = uc.Write(b)
	uc.SetWriteDeadline(time.Time{})
	return err
}

// writeFinal writes a last frame; the caller closes the connection. A client that is
// gone or not reading does not get it, which is all that can be done.
func (s *server) writeFinal(uc *net.UnixConn, f *proto.ServerFrame) {
	if err := s.writeSync(uc, f); err != nil {
		s.log.Debug("could not tell client why it is disconnected", "code", f.Code, "err", err)
	}
}

func fatal(id uint32, code, msg string) *proto.ServerFrame {
	return &proto.ServerFrame{Type: proto.TypeError, ID: id, Code: code, Message: msg, Fatal: true}
}

func errorFrame(id uint32, code, msg string) *proto.ServerFrame {
	return &proto.ServerFrame{Type: proto.TypeError, ID: id, Code: code, Message: msg}
}
