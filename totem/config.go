package totem

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

// Config configures a Node.
type Config struct {
	// NodeID is this node's id: non-zero, unique in the cluster, stable across restarts.
	NodeID wire.NodeID
	// ClusterName separates clusters sharing a network; every node of a cluster uses the
	// same. Its hash is in every datagram header.
	ClusterName string
	// StateDir holds the ring sequence number across restarts. Empty: kept in memory
	// only (tests); a restarted node then relies on its +1 rule alone.
	StateDir string
	// Membership holds the protocol's timers and constants; Membership.Ring.Self is set
	// from NodeID.
	Membership membership.Config
	// MaxMessageSize bounds one application message. Default 1 MiB.
	MaxMessageSize int
	// MaxPendingRecords bounds the records accepted but not yet handed to the ring (as do
	// their bytes: as many as the payloads queued at the ring, see SendQueueBytes); a
	// Multicast beyond it blocks (backpressure). Default 1024.
	MaxPendingRecords int
	// SendQueueBytes bounds the packed payloads handed to the ring and waiting for the
	// token, which are at most four token visits' worth (Membership.Ring.MaxMessages
	// each), never fewer than two: a few visits ahead is all the ring needs to send at
	// full speed; more only holds memory and adds latency. Default 4 MiB.
	SendQueueBytes int
	// EventQueue bounds each session's undelivered events; a session that falls this far
	// behind is closed with ErrSlowConsumer. One token rotation can deliver a window of
	// datagrams packed with tiny messages at once, so the default is generous: 65536.
	// Nothing is reserved up front: a session that keeps up costs a few events.
	EventQueue int
	// EventQueueBytes bounds the payload bytes of each session's undelivered events, the
	// same way (one event always fits). Default 64 MiB.
	EventQueueBytes int
	// Authenticated says that the transport authenticates every datagram (a pre-shared
	// key), for Status to report; the node itself cannot tell.
	Authenticated bool
	// Nodes are the configured nodes and their unicast addresses (the peer list or the
	// cluster file), for Status to report which are in the ring and which are missing.
	// Empty for a multicast ring without a node list. The node keeps its own copy.
	Nodes map[wire.NodeID]netip.AddrPort
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with Corosync-like timers.
func DefaultConfig(id wire.NodeID) Config {
	return Config{
		NodeID:            id,
		ClusterName:       "totem",
		Membership:        membership.DefaultConfig(id),
		MaxMessageSize:    1 << 20,
		MaxPendingRecords: 1024,
		SendQueueBytes:    4 << 20,
		EventQueue:        65536,
		EventQueueBytes:   64 << 20,
	}
}

func (c *Config) validate() error {
	if c.NodeID == 0 {
		return errors.New("totem: config: NodeID is 0")
	}
	c.Membership.Ring.Self = c.NodeID
	if err := c.Membership.Validate(); err != nil {
		return err
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.MaxPendingRecords <= 0 {
		c.MaxPendingRecords = 1024
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 4 << 20
	}
	if c.EventQueue <= 0 {
		c.EventQueue = 65536
	}
	if c.EventQueueBytes <= 0 {
		c.EventQueueBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Nodes = maps.Clone(c.Nodes)
	if c.ClusterName == "" {
		return fmt.Errorf("totem: config: empty ClusterName")
	}
	return nil
}
