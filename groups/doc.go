// Package groups is the process group layer: named groups of sessions (the daemon's
// clients) on every node of a ring, their views and their messages, in the ring's one
// total order.
//
// It is a pure state machine, like membership: no goroutines, sockets, clocks or
// randomness. Its inputs are a node's local sessions' calls (Open, Join, Leave,
// Multicast, Close), the totem messages membership delivers in the total order
// (Deliver) and the configuration changes between them (ConfigChange); its outputs are
// payloads to hand to the ring (NextPayload, pulled as the ring has room) and a Ready:
// the events for each local session, and what to do with the ring's queue after a
// configuration change. totem.Node is the shell that drives it with the ring, the
// sessions' mailboxes and a clock.
//
// A group change or message is a record; records are packed into totem messages
// (package totem/pack). Every node applies the same records in the same order to the
// same table, so every node of a configuration has the same groups. Three rules keep
// that true across configuration changes:
//
//   - A transitional configuration removes the members of the nodes that left (reason
//     node-down), one view per group.
//   - A regular configuration starts a sync barrier: each node first announces its
//     local members; until the last announcement is delivered, every other record is
//     held; then each group gets one view from all the announcements at once (after a
//     merge, every member sees the same single view at the same point of the order).
//   - At a regular configuration every node drops its partial records and packs again,
//     from scratch, every record of its own not yet delivered back to itself (a record
//     whose fragments straddle the change could otherwise be completed by some members
//     and not others).
package groups
