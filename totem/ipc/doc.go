// Package ipc is the server of the totem daemon's Unix socket protocol: Serve runs
// each connection as one session of a totem.Node. The protocol itself (frames,
// requests, replies, events, codes, their framing and bounds) is package totem/proto,
// which the Go client (totem/client) imports too; docs/PROTOCOL.md is the
// specification, written so that a client in any language can be built from it.
//
// # Framing
//
// A frame is a 4-byte big-endian length, then that many bytes: one msgpack map.
// proto.FrameReader refuses a length above its limit before reading or allocating anything
// (proto.ErrFrameTooLarge), and grows its buffer only as bytes arrive. proto.Decode checks that a
// body is exactly one well-formed map whose every length is backed by the bytes that
// follow (proto.Check), so that the msgpack decoder never allocates for a lie.
//
// # The server
//
// Serve accepts connections and checks each peer's credentials (SO_PEERCRED) against
// ServerOptions.AllowUIDs/AllowGIDs; the peer's pid becomes its session's pid. After
// the hello/welcome handshake a connection has three goroutines:
//
//   - the handler runs one request at a time against the session. A multicast blocks
//     in totem.Session.Multicast while the node's send queue is full, and nothing else
//     of that client's runs meanwhile.
//   - the reader reads and decodes requests, at most one ahead of the handler: a
//     held-back client is not read further, its socket fills and its library blocks.
//     That is the end-to-end backpressure, and it holds back that client alone. The
//     reader still notices the client going away (EOF, or a hangup seen by polling the
//     socket while it waits), and cancels the held-back request, so the session closes
//     and the other members see the client leave.
//   - the writer owns the socket's write side: it interleaves the handler's replies
//     with the session's events (totem.Session.Events, bounded by the node's
//     EventQueue) and batches them into few writes.
//
// A client that does not read its events fills its socket, then its node queue; the
// node then closes its session (totem.ErrSlowConsumer) and the writer sends a fatal
// slow_consumer error, dropping the events still queued, and closes the connection. A
// writer blocked on such a client notices within a fraction of a second and gives it
// CloseTimeout more to take the reason.
//
// The server reads requests with its own strict parser (request.go), not the
// reflective decoder: every integer is checked against its range, every field has one
// msgpack type, and an error names the field (docs/PROTOCOL.md §5.1). The hello is
// read with a limit of HelloFrameMax; max_frame applies from the welcome on.
//
// A request's reply is written before any event it caused: the writer holds back a
// view showing the client's own join or leave, and the client's own message, until
// the reply of the request behind it is written (see conn).
//
// Bad input never reaches the node: a frame that does not decode, or a request the
// server does not know, gets an error reply and the connection goes on; a frame header
// above the limit cannot be skipped safely, so it gets a fatal error and a disconnect.
//
// Shutdown: when Serve's context is canceled (or the node stops), every reader is
// woken by a read deadline, each client is sent a fatal shutting_down error, its
// session is closed, and Serve returns once every connection's goroutines have exited.
package ipc
