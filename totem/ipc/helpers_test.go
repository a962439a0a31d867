package ipc_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/totem-gcs/totem/totem/proto"
)

const testTimeout = 20 * time.Second

// rawClient speaks the protocol frame by frame, to send what a library would not.
type rawClient struct {
	t      *testing.T
	c      *net.UnixConn
	fr     *proto.FrameReader
	nextID uint32
	events []*proto.ServerFrame // events read while waiting for a reply
}

func dialRaw(t *testing.T, path string) *rawClient {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, fr: proto.NewFrameReader(c, 4<<20), nextID: 100}
}

// helloRaw dials and completes the handshake.
func helloRaw(t *testing.T, path, name string) *rawClient {
	t.Helper()
	r := dialRaw(t, path)
	r.send(&proto.Request{Type: proto.TypeHello, ID: 1, Version: proto.Version, Name: name})
	if f := r.next(); f.Type != proto.TypeWelcome {
		t.Fatalf("hello answered with %+v", f)
	}
	return r
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawClient) send(req *proto.Request) {
	r.t.Helper()
	b, err := proto.AppendFrame(nil, req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// frame returns body with its length prefix.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func (r *rawClient) read() (*proto.ServerFrame, error) {
	r.c.SetReadDeadline(time.Now().Add(testTimeout))
	body, err := r.fr.Next()
	if err != nil {
		return nil, err
	}
	f := new(proto.ServerFrame)
	return f, proto.Decode(body, f)
}

func (r *rawClient) next() *proto.ServerFrame {
	r.t.Helper()
	f, err := r.read()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

// reply reads until the reply to id. Events read on the way are kept for nextEvent:
// events of other requests and other members may come before a reply.
func (r *rawClient) reply(id uint32) *proto.ServerFrame {
	r.t.Helper()
	for {
		f := r.next()
		if f.ID == id || (f.Type == proto.TypeError && f.Fatal) {
			return f
		}
		if isEvent(f) {
			r.events = append(r.events, f)
		}
	}
}

func isEvent(f *proto.ServerFrame) bool {
	return f.Type == proto.TypeView || f.Type == proto.TypeMessage
}

// nextEvent returns the next event, kept or read.
func (r *rawClient) nextEvent() *proto.ServerFrame {
	r.t.Helper()
	if len(r.events) > 0 {
		f := r.events[0]
		r.events = r.events[1:]
		return f
	}
	return r.next()
}

// nextNonEvent reads past (and keeps) events to the next reply or error.
func (r *rawClient) nextNonEvent() *proto.ServerFrame {
	r.t.Helper()
	for {
		f := r.next()
		if !isEvent(f) {
			return f
		}
		r.events = append(r.events, f)
	}
}

// call sends req with a fresh id and returns its reply.
func (r *rawClient) call(req proto.Request) *proto.ServerFrame {
	r.t.Helper()
	r.nextID++
	req.ID = r.nextID
	r.send(&req)
	return r.reply(req.ID)
}

// expectEOF checks that the server closed the connection, with no more frames.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	f, err := r.read()
	if err == nil {
		r.t.Fatalf("got %+v, want the connection closed", f)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		r.t.Fatalf("read: %v, want EOF", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// checkWorks checks that a well-behaved client still gets replies and its messages.
func (r *rawClient) checkWorks(group string, payload string) {
	r.t.Helper()
	if f := r.call(proto.Request{Type: proto.TypeStatus}); f.Type != proto.TypeStatus || f.NodeID != 1 {
		r.t.Fatalf("status: %+v", f)
	}
	if f := r.call(proto.Request{Type: proto.TypeMulticast, Group: group, Data: []byte(payload)}); f.Type != proto.TypeOK {
		r.t.Fatalf("multicast: %+v", f)
	}
	for {
		f := r.nextEvent()
		if f.Type == proto.TypeMessage && string(f.Data) == payload {
			return
		}
	}
}

// joinRaw joins group and waits for the view that shows r (it comes after the reply).
func (r *rawClient) joinRaw(group string) {
	r.t.Helper()
	if f := r.call(proto.Request{Type: proto.TypeJoin, Group: group}); f.Type != proto.TypeOK {
		r.t.Fatalf("join: %+v", f)
	}
	for {
		if f := r.nextEvent(); f.Type == proto.TypeView && f.Group == group {
			return
		}
	}
}
