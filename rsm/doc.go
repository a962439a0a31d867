// Package rsm replicates a deterministic state machine over a totem process group: the
// state machine approach. Every replica multicasts its clients' commands to the group;
// every replica applies the group's commands in the one agreed order; the replica that
// took a command returns its result.
//
//	ch, _ := rsm.JoinGroup(ctx, conn, "counter") // conn: a client.Client, or a node's Session
//	r, _ := rsm.New(rsm.Config{Replicas: 3}, sm, ch)
//	go r.Run(ctx)
//	res, err := r.Propose(ctx, cmd)   // ErrNoQuorum, ErrNotReady, ctx errors
//	val, err := r.Read(ctx, query)    // linearizable
//
// The application implements StateMachine (and optionally Querier); the Channel is a
// group connection (GroupChannel over a client.Conn: a daemon's client over its socket,
// or an embedded node's session, alike). Clients in other processes use a Remote
// (Connect), served by Replica.Serve.
//
// # Primary component
//
// Config.Replicas is the expected number of replicas. Every member of the group is a
// replica, and a replica's view is a majority when it holds more than Replicas/2 members
// (and no more than Replicas). Two disjoint majorities cannot exist, so at most one side
// of any partition is a majority. A replica in a minority view applies nothing on behalf
// of clients: Propose and Read fail at once with ErrNoQuorum, and calls in flight fail
// when the minority view arrives (that is, within the ring's failure detection time).
//
// A majority view is not enough to serve: after every view change the replicas run a
// state exchange, and a replica serves only after completing it in its current view.
// The view's leader (its lowest member) waits until every member has announced the view
// (hello), then prepares a round with a ballot higher than any it has heard of. Every
// member whose view is that view promises the ballot and acks with a summary of its
// state: the epoch (ballot) of the last round it completed, whether it holds that
// epoch's state, the number of commands it applied and a hash chain over them. The last
// ack completes the round, at the same place of the order for every member, which all
// decide alike from the same acks (decide):
//   - the new epoch continues the latest epoch any member knows, from the state of a
//     member that holds it (the one with most commands applied, then the lowest);
//   - if no member holds the latest epoch's state, nothing is established (ErrNotReady):
//     that state may hold results already returned, and only its holders can bring it;
//   - a cluster where no replica ever completed a round starts from the initial state,
//     but only with all Replicas present, so that replicas that restarted empty never
//     start a second history beside one that holds the first (Corosync's wait_for_all);
//   - otherwise the members that completed a round in their present life must be a
//     majority of Replicas, unless all Replicas are present: a majority view made mostly
//     of replicas restarted empty may share no member with the view that established the
//     latest epoch, and would continue an older one beside it.
//
// The EVS edge case. When a majority view splits, totem delivers the old view's messages
// on both sides up to each side's transitional configuration, and each side then gets a
// different view; the two sides may even place the view change at different points of
// the old ring's messages, and a side may receive some of them only after its view
// changed. Three rules keep that safe:
//  1. A replica that holds the state applies every command it delivers, in a minority,
//     between views, or with its view changed, but answers a client only while it is
//     ready (installed and synced in its current view).
//  2. Stability: an answer is released only once every member of the view has reported
//     that it delivered the message answered (stable.go). So any command whose result
//     was returned, and any read answered, was delivered by every replica of that view,
//     in the same order: whichever side goes on holds it, and a replica of the next
//     primary component's source has applied it. (Totem's safe delivery promises as
//     much of the daemons; the replicas check it of themselves, since a replica is a
//     process behind its daemon, and a daemon's delivery is not the replica's.)
//  3. A member follows the round it promised to its end even after its view changed
//     (possibly applying the decision without serving). If any member served from an
//     epoch, every surviving member of that view completed that epoch too, so the
//     latest-epoch rule can never pick an older state. Ballots make rounds totally
//     ordered: a member acks only a higher ballot than it promised, so an epoch
//     established later always has the higher ballot.
//
// A minority side's replicas may apply commands the majority never sees (their own
// commands in flight at the partition), but never answer for them; when the sides
// merge, their hash chains differ from the source's and they discard their state by
// taking the snapshot. Commands applied while no one could answer are looked up again,
// by their (client, seq), in the state of the next epoch this replica serves: a Propose
// then returns the result recorded there, or ErrNoQuorum if that history does not hold
// the command.
//
// # State transfer
//
// A member whose summary differs from the source's (new, restarted, back from a
// minority, or with a transfer still pending) takes a snapshot. The source cuts it at
// the delivery of the round's last ack: the state after exactly the commands ordered
// before that point, including the replica's applied index, hash chain and duplicate
// cache. It is built in memory there (Snapshot runs on the loop, so nothing is applied
// meanwhile) and streamed in chunks of at most Config.ChunkSize (256 KiB). The taker
// buffers every command and read ordered after the cut, restores the snapshot when the
// last chunk arrives, replays the buffer, and only then serves. A taker whose transfer
// a later view change interrupts reports itself unsynced and is handed a new one. What
// a taker holds meanwhile (snapshot so far and buffer) is bounded by Config.MaxTransfer:
// past it Run fails with ErrTransferTooLarge, a clear stop rather than a memory blow-up.
//
// # Duplicates and order
//
// Commands carry a client id and a sequence number (Do; Propose numbers this replica's
// own). A command at or below its client's highest applied sequence number is never
// applied again: the cached result is returned, or ErrExpired once it has been pushed
// out (Config.MaxClients clients, least recently used evicted, Config.ResultsPerClient
// results each). Since Propose returns only after its command is applied, a caller's
// sequential commands are applied in the order it made them, and a command proposed
// after a caller saw another's result (at any replica) is ordered after that command.
//
// Reads are ordered too: a read is multicast and evaluated at the replica that was asked
// at its place in the order (Querier), or applied as a command. No leases, no clocks.
//
// # Durability
//
// State is in memory. Each replica keeps the index of commands applied (Status.Applied)
// and a hash chain over them, which is what a disk log of the applied commands, and
// snapshots on disk, would be keyed by. Until then a replica that restarts comes back
// empty. If every replica holding the latest state is lost, the others wait
// (ErrNotReady) rather than start from an older one, as long as one of them knows that
// a later epoch was established; replicas that never heard of it (they were in a
// minority while it was) cannot know, and go on from the older state they hold. So the
// answers are durable while some replica holding the latest state survives, which the
// loss of any minority of the replicas never prevents; the replica simulation
// (TestReplicaSimulation) checks every answer against that rule.
//
// # Driving a replica yourself
//
// Run drives a replica from its channel on goroutines of its own. A caller that must
// control every step (the seeded simulation of the whole stack, or a test) instead
// hands it each event with Step, takes what it wants multicast with TakeOutgoing, and
// proposes with ProposeAsync, whose callback runs inside the Step that settles it; the
// replica then starts no goroutine, and with Config.ClientID and Config.Instance set it
// draws no randomness either.
//
// # Remote clients
//
// A client in another process (or on a host without a replica) is a Remote. It cannot
// join the replicas' group, whose members are votes, so it joins ClientsGroup(group),
// where every replica's gateway (Replica.Serve, on a session of its own) listens. A
// request names the replica it asks; that replica runs it through Do or Read and
// multicasts the reply. The Remote prefers a replica on its own node, moves on to
// another when the one asked refuses (no quorum, not ready, busy), does not answer
// within RemoteConfig.Attempt, or its node fails, and keeps the command's client id and
// sequence number across attempts, so a command is applied once however often it is
// sent. Only when every reachable replica refuses does Propose fail, at once, with the
// refusal (ErrNoQuorum in a minority). A Remote's Proposes are one at a time, which is
// what the duplicate rule and the client order need.
//
// # Left to do
//
//   - The source builds its snapshot in memory (a joiner's side is bounded by
//     Config.MaxTransfer); stream it from the state machine before large states are
//     common.
//   - Durability (above).
package rsm
