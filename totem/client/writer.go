package client

import (
	"context"
	"fmt"
	"time"

	"github.com/totem-gcs/totem/totem/proto"
)

// The connection's write side. Requests are appended to one buffer, and one goroutine
// writes whatever has gathered in a single write: a program that pipelines multicasts
// (MulticastAsync) then pays one system call per batch, not per message, and no caller
// ever leaves half a frame on the stream. The buffer is bounded: past writeBufferMax a
// caller waits (honouring its ctx) until the writer has taken the buffer, which keeps
// the daemon's backpressure, its reading the socket only as fast as its ring takes
// messages, reaching the program.

// writeBufferMax bounds the bytes waiting for the writer (one frame always fits).
const writeBufferMax = 256 << 10

// enqueue encodes req onto the end of the write buffer.
func (c *Client) enqueue(ctx context.Context, req *proto.Request) error {
	size := len(req.Data) + len(req.Group) + len(req.Name) + 64 // about the frame's size
	for {
		c.wmu.Lock()
		switch {
		case c.werr != nil:
			err := c.werr
			c.wmu.Unlock()
			return err
		case len(c.wbuf) == 0 || len(c.wbuf)+size <= writeBufferMax:
			b, err := encodeRequest(c.wbuf, req)
			if err != nil {
				c.wmu.Unlock()
				return err
			}
			c.wbuf = b
			c.wmu.Unlock()
			select {
			case c.wkick <- struct{}{}:
			default:
			}
			return nil
		}
		c.wmu.Unlock()
		select {
		case <-c.wspace:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.Err()
		}
	}
}

// encodeRequest appends req's frame to dst, by hand for a multicast.
func encodeRequest(dst []byte, req *proto.Request) ([]byte, error) {
	if req.Type == proto.TypeMulticast {
		return proto.AppendMulticast(dst, req.ID, req.Group, req.Level, req.Data), nil
	}
	return proto.AppendFrame(dst, req)
}

// writeLoop writes the buffer whenever it holds something, until the connection ends.
func (c *Client) writeLoop() {
	defer close(c.wdone)
	var spare []byte
	for {
		select {
		case <-c.wkick:
		case <-c.closing:
			return
		case <-c.done:
			return
		}
		c.wmu.Lock()
		b := c.wbuf
		c.wbuf = spare[:0]
		c.wmu.Unlock()
		select {
		case c.wspace <- struct{}{}:
		default:
		}
		if len(b) == 0 {
			spare = b
			continue
		}
		if _, err := c.conn.Write(b); err != nil {
			c.writeFailed(err)
			return
		}
		if cap(b) > 4*writeBufferMax {
			b = nil // a large message passed: do not keep its buffer
		}
		spare = b
	}
}

// writeFailed ends the connection after a failed write. The daemon may have said why it
// closed it; the reader gets a moment to read that, so that callers learn the reason.
func (c *Client) writeFailed(err error) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-c.closing:
	case <-t.C:
	}
	err = fmt.Errorf("%w: %w", ErrDaemonGone, err)
	c.setErr(err)
	c.wmu.Lock()
	c.werr = c.Err()
	c.wmu.Unlock()
	c.conn.Close()
}
