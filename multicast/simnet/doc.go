// Package simnet is a deterministic simulated datagram network for testing totem.
//
// The protocol's state machines (ring, membership) run many processors in one goroutine on
// a Network; the real node runs on it through Endpoint, a multicast.Transport. The same
// seed and the same sequence of calls give the same run, byte for byte: all randomness
// comes from one math/rand/v2 PCG generator owned by the Network, time is a virtual clock
// that starts at 0 and moves only when the caller moves it, nothing iterates over a map,
// and the core starts no goroutines. Digest hashes every delivery so a test can check that
// two runs were identical.
//
// # Fault model
//
// Every datagram copy has its own fate, as on a real network; a multicast is one copy per
// other registered node. Per directed link (Config.Link, overridden by SetLink):
//
//   - Loss drops a copy; Duplicate delivers a surviving copy twice.
//   - The one-way delay is DelayMin plus an exponential jitter of mean Jitter, capped at
//     JitterCapFactor*Jitter, plus, with probability Reorder, a uniform hold-back of at
//     most ReorderDelayMax. Random delays reorder datagrams; LinkConfig.DelayMax bounds
//     them, so every arrival lies in [send+DelayMin, send+DelayMax()].
//
// Over the whole network:
//
//   - Partition(groups...) separates groups in both directions; Cut(from, to) one way;
//     Heal removes both. Reachability is checked when a copy is sent and again when it
//     arrives, so a copy in flight across a new cut is lost.
//   - Crash(id) takes a node down: it sends and receives nothing, and copies in flight to
//     it are dropped at once. Restart(id) brings it back with an empty inbox.
//
// Stats counts every copy's fate, totals and per node.
//
// # Driving it from one goroutine
//
// The simulation harness owns the loop; the Network only schedules:
//
//	net := simnet.New(seed, simnet.Config{Link: simnet.LinkConfig{Loss: 0.01, DelayMin: time.Millisecond}})
//	for _, id := range ids {
//		net.AddNode(id)
//	}
//	for now := time.Duration(0); now < end; now += tick {
//		for _, d := range net.DeliverDue(now) {
//			// decode d.Data, step node d.To with it
//		}
//		// tick every node, then net.Send(from, to, datagram) its output (to 0 = multicast)
//	}
//
// DeliverDue returns arrivals in (arrival time, scheduling order), so ties are broken
// deterministically too. NextDue lets a harness skip idle time.
//
// # Driving real nodes
//
// Network.Endpoint(id, maxPayload) returns a multicast.Transport. Sends enter the network
// at the current virtual time; Advance(now), or Run(ctx, tick) in a goroutine (in fake
// time under testing/synctest), pushes arrivals into each endpoint's Packets channel,
// bounded by Config.QueueCap, dropping and counting on overflow. The Network is safe for
// concurrent use, but only a single-goroutine driver gets a reproducible run.
package simnet
