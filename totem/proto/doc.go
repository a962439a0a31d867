// Package proto is the daemon's Unix socket protocol (docs/PROTOCOL.md), the part
// both ends share: frames, requests, replies, events, error codes, the hello's bounds,
// the default socket location, and the codecs for them. The server (package
// totem/ipc) and the Go client (package totem/client) import it; it imports nothing
// of the daemon, so a client program links the protocol and not the ring.
package proto
