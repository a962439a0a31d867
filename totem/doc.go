// Package totem is the node: it drives the pure membership and ordering state machines
// with a real clock and a multicast.Transport, packs application messages into datagrams
// and reassembles them, and runs process groups on top of the agreed order.
//
// A Node owns one event loop goroutine (Run). Everything that touches protocol state
// happens on it; sessions (local clients, in-process or over the Unix socket) talk to it
// through channels. Before it handles a token it drains every datagram already received,
// so the token meets a store that reflects what has arrived (Totem's flow-control brake).
//
// Process groups (as Corosync's CPG or Spread's groups): a session joins named groups,
// multicasts to a group it has joined, and receives the group's messages and views. Joins,
// leaves and messages are records ordered through the ring, so every node computes the
// same views at the same point of the total order. After every regular configuration each
// node announces its local members (a sync record), which is how groups heal after a
// merge: records are held until every member's announcement is delivered, and then each
// group gets one view with everything (groups.go, syncRound). Members of nodes that left
// the configuration are removed at the transitional configuration, with the reason
// "node down".
//
// Known limits, for the next session:
//   - Latency at a light load (issue 10, docs/BENCH.md): a message waits for the token,
//     which three local daemons rotate in about 0.5 ms when lightly loaded. Handling
//     datagrams on the reader goroutine instead of crossing a channel to the node's was
//     prototyped and measured: no change beyond the noise. Fewer hops per message (the
//     Accelerated Ring's early token pass) is what is left to try.
//   - Session handles restart at 1 when a node restarts, so a (node, session) pair can
//     name a different process across a restart; views always carry the change.
package totem
