// Package client is the Go client of the totem daemon: it connects to the daemon's Unix
// socket, joins process groups, multicasts to them with agreed or safe delivery, and
// receives their messages and views, all in the group's total order.
//
//	c, err := client.Dial(ctx, "/run/totem/totemd.sock", client.WithName("chat"))
//	if err != nil { ... }
//	defer c.Close()
//	if err := c.Join(ctx, "chat"); err != nil { ... }
//	go func() {
//		for ev := range c.Events() {
//			switch ev := ev.(type) {
//			case client.Message: // ev.Sender, ev.Data, ev.Safe
//			case client.View:    // ev.Members, ev.Joined, ev.Left (with reasons)
//			}
//		}
//		// c.Err() says why the stream ended
//	}()
//	err = c.Multicast(ctx, "chat", []byte("hi"), client.Agreed)
//
// Every call takes a context and blocks at most until it is done. Multicast returns
// once the daemon has accepted the message; when the ring is busier than the program,
// the daemon holds it back and Multicast waits (backpressure).
//
// Events must be read, in a goroutine of their own: replies and events share the
// connection in order, so a program that stops reading events also stops getting
// replies, and the daemon eventually disconnects it as a slow consumer
// (ErrSlowConsumer).
//
// Errors match sentinels with errors.Is: ErrNotJoined, ErrAlreadyJoined, ErrTooLarge,
// ErrBadGroup, ErrBadLevel... for a failed request; ErrDaemonGone once the connection
// is lost (together with the daemon's reason, such as ErrShuttingDown or
// ErrSlowConsumer, when it gave one); ErrClosed after Close. *Error carries the
// daemon's own error code and message.
//
// The wire protocol is docs/PROTOCOL.md, implemented by totem/ipc.
package client
