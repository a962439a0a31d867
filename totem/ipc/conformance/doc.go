// Package conformance checks the totem daemon's Unix socket protocol against its
// specification, docs/PROTOCOL.md, statement by statement. Its tests speak raw frames:
// a 4-byte length and a msgpack map built by hand or by a generic msgpack encoder,
// never the types of totem/ipc or the client of totem/client, so that they see what a
// client written from the document alone would see. Each test names the section it
// checks; a statement of the document without a test here is one that can drift.
//
// The daemons are real servers (ipc.Serve) over real Unix sockets, in process: one
// node, or three on a simulated network that the tests partition and heal.
package conformance
