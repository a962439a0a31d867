// Package membership implements Totem's membership protocol and Extended Virtual
// Synchrony, as a deterministic state machine in the style of the ring package.
//
// A Machine is one processor. It runs the ordering protocol of its current ring (package
// ring) while Operational, and when the ring fails (token lost, a processor that cannot
// receive, a foreign ring heard, a join) it moves through the states of the Totem paper
// (Amir et al., TOCS 1995, §6-7):
//
//	Operational -> Gather     exchange join messages until every live processor proposes
//	                          the same member set (consensus); silent ones are declared
//	                          failed when the consensus timer expires
//	Gather -> Commit          the representative (lowest id) sends the commit token round
//	                          the new ring; each member writes its old ring's state in it
//	Commit -> Recovery        on its second rotation everyone knows everyone's old-ring
//	                          state; members of the same old ring re-send, on the new ring,
//	                          the old messages some of them lack
//	Recovery -> Operational   once every member holds every re-sent message, each member
//	                          installs the new ring: it delivers the old ring's remaining
//	                          messages, the transitional configuration, the messages that
//	                          may only be delivered in it, then the regular configuration
//
// The caller feeds events (Step for a decoded packet and its sender, Tick for time,
// Submit for application messages, Leave for a graceful shutdown) and after each one
// drains Ready: packets to multicast, packets to unicast, events to deliver in order
// (messages and configuration changes, in one slice because their relative position is
// what EVS promises), a ring sequence number to persist before anything is sent, and the
// next deadline.
//
// See ../../shared/design/totem-protocol.md §4 for the rules this package follows; where
// it departs from Corosync or the paper, a comment says so.
package membership
