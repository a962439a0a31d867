// Package ring implements Totem's single-ring ordering protocol for a ring of known
// membership, as a deterministic state machine.
//
// One token circulates among the members in ascending node id order. Only its holder
// multicasts. The token assigns global sequence numbers (Token.Seq), carries the
// all-received-up-to value (Token.Aru) that acknowledges messages cumulatively, the
// retransmission requests (Token.RTR) and the flow-control counters (Token.FCC,
// Token.Backlog). Every member stores what it receives, requests what it misses, and
// delivers in sequence order with no gaps (agreed delivery); a message that asked for safe
// delivery is held back, and every later message with it, until the token's aru has
// covered it on two consecutive visits, which proves every member holds it.
//
// The Ring does no I/O and reads no clock. The caller feeds it events:
//
//	r.Start(now)                  // the representative originates the first token
//	r.StepToken(now, tok)         // a regular token for this ring arrived
//	r.StepMcast(now, msg)         // a regular message for this ring arrived
//	r.StepHoldCancel(now)         // someone wants the held token released
//	r.Tick(now)                   // time passed; fires timers that are due
//	r.Submit(now, payload, g)     // queue an application message (bounded)
//
// and after each event collects r.Ready(): packets to multicast, packets to unicast (the
// token to the successor), messages to deliver in order, faults for the membership layer
// (token lost, failure to receive, a foreign ring heard) and the next deadline at which it
// wants Tick to be called. `now` is a monotonic duration chosen by the caller (virtual
// time in the simulation, time since start in the daemon).
//
// A forwarded token that does not come back within the rotation time the member
// measures is sent again (retransmit.go): a lost token datagram costs a few rotations,
// not Corosync's fixed 714 ms.
//
// The rules follow the Totem paper (Amir et al., TOCS 1995, §5 and §8) and, where the paper
// is silent, Corosync's totemsrp; see ../../shared/design/totem-protocol.md §2 and §3.
// Deviations are marked in comments.
package ring
