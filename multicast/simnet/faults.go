package simnet

import (
	"fmt"

	"github.com/totem-gcs/totem/multicast/wire"
)

// SetLink overrides the fate of copies sent from one node to another (one direction
// only). It panics if lc is invalid.
func (n *Network) SetLink(from, to wire.NodeID, lc LinkConfig) {
	if err := lc.validate(); err != nil {
		panic(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[link{from, to}] = lc
}

// ClearLink returns the link from one node to another to the default Config.Link.
func (n *Network) ClearLink(from, to wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, link{from, to})
}

func (n *Network) linkConfig(from, to wire.NodeID) LinkConfig {
	if len(n.links) > 0 {
		if lc, ok := n.links[link{from, to}]; ok {
			return lc
		}
	}
	return n.cfg.Link
}

// Partition splits the network: nodes in different groups cannot reach each other in
// either direction, and a node in no group (including one added later) reaches nobody. It
// replaces any earlier partition and keeps cuts. Copies already in flight across the new
// boundary are dropped when they arrive. Naming a node in two groups panics.
func (n *Network) Partition(groups ...[]wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.groups)
	for g, members := range groups {
		for _, id := range members {
			if prev, dup := n.groups[id]; dup && prev != g {
				panic(fmt.Sprintf("simnet: node %d in partition groups %d and %d", id, prev, g))
			}
			n.groups[id] = g
		}
	}
	n.partitioned = true
}

// Cut stops copies from one node to another; the reverse direction is unaffected. Copies
// already in flight on that link are dropped when they arrive.
func (n *Network) Cut(from, to wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[link{from, to}] = struct{}{}
}

// Heal removes the partition and every cut. Link overrides stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.groups)
	clear(n.cuts)
	n.partitioned = false
}

// reachable reports whether a copy may travel from one node to another now. A node always
// reaches itself: partitions and cuts are about the network between machines.
func (n *Network) reachable(from, to wire.NodeID) bool {
	if from == to {
		return true
	}
	if n.partitioned {
		gf, okf := n.groups[from]
		gt, okt := n.groups[to]
		if !okf || !okt || gf != gt {
			return false
		}
	}
	if len(n.cuts) > 0 {
		if _, cut := n.cuts[link{from, to}]; cut {
			return false
		}
	}
	return true
}

// Crash takes a node down: it sends nothing and receives nothing until Restart. Copies in
// flight to it are dropped at once, so a quick Restart cannot resurrect them; copies it
// sent before crashing are already on the wire and still arrive. Crashing a crashed node
// does nothing; crashing an unregistered one panics.
func (n *Network) Crash(id wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.mustNode(id)
	if !nd.up {
		return
	}
	nd.up = false
	n.inflight.removeIf(
		func(f *flight) bool { return f.to == id },
		func(f flight) {
			f.p.release()
			n.count(nd, cDroppedCrash)
		})
}

// Restart brings a crashed node back up with an empty inbox. Restarting an up node does
// nothing.
func (n *Network) Restart(id wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mustNode(id).up = true
}

// Up reports whether a registered node is up.
func (n *Network) Up(id wire.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mustNode(id).up
}
