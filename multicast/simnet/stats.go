package simnet

import (
	"sort"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Counters count datagram copies by fate. Every copy handed to the network ends in exactly
// one network fate, so at any moment
//
//	Sent + Duplicated == Delivered + DroppedLoss + DroppedPartition + DroppedCrash +
//	                     DroppedUnknown + InFlight
//
// DroppedOverflow and DroppedClosed are a subset of Delivered: the network delivered the
// copy, but the receiving Endpoint had no room for it or was closed.
type Counters struct {
	Sent             uint64 // copies handed to the network (a multicast counts once per destination)
	Delivered        uint64 // copies that arrived
	DroppedLoss      uint64 // lost by the link's Loss draw
	DroppedPartition uint64 // sender and receiver were separated by a partition or cut
	DroppedCrash     uint64 // sender or receiver was crashed
	DroppedUnknown   uint64 // unicast to an unregistered node
	Duplicated       uint64 // extra copies created by the link's Duplicate draw
	DroppedOverflow  uint64 // delivered to an Endpoint whose Packets channel was full
	DroppedClosed    uint64 // delivered by Advance to a node without an open Endpoint
}

// NodeStats is one node's share of the counters. Sent and DroppedUnknown are charged to
// the sender; every other counter to the destination.
type NodeStats struct {
	ID wire.NodeID
	Counters
}

// Stats is a snapshot of a Network's counters.
type Stats struct {
	Counters             // totals over all nodes
	InFlight int         // copies scheduled but not yet delivered or dropped
	Nodes    []NodeStats // per node, sorted by id
}

// Node returns the counters of one node, or zero counters if it is not registered.
func (s Stats) Node(id wire.NodeID) Counters {
	i := sort.Search(len(s.Nodes), func(i int) bool { return s.Nodes[i].ID >= id })
	if i < len(s.Nodes) && s.Nodes[i].ID == id {
		return s.Nodes[i].Counters
	}
	return Counters{}
}

// counter indexes a tally. Counting through an index keeps the hot path to one array
// increment per fate and lets totals and per-node counts share one code path.
type counter uint8

const (
	cSent counter = iota
	cDelivered
	cDroppedLoss
	cDroppedPartition
	cDroppedCrash
	cDroppedUnknown
	cDuplicated
	cDroppedOverflow
	cDroppedClosed
	numCounters
)

type tally [numCounters]uint64

func (t *tally) counters() Counters {
	return Counters{
		Sent:             t[cSent],
		Delivered:        t[cDelivered],
		DroppedLoss:      t[cDroppedLoss],
		DroppedPartition: t[cDroppedPartition],
		DroppedCrash:     t[cDroppedCrash],
		DroppedUnknown:   t[cDroppedUnknown],
		Duplicated:       t[cDuplicated],
		DroppedOverflow:  t[cDroppedOverflow],
		DroppedClosed:    t[cDroppedClosed],
	}
}
