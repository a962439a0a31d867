package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// settings is everything totemd can be told, by flag or by config file.
type settings struct {
	nodeID          wire.NodeID
	cluster         string
	listen          netip.AddrPort
	mcast           netip.AddrPort
	iface           string
	peers           map[wire.NodeID]netip.AddrPort
	socket          string
	stateDir        string
	keyFile         string
	tokenTimeout    time.Duration
	logLevel        string
	logFormat       string // text or json
	maxMessage      int
	eventQueue      int
	eventQueueBytes int
	helloTimeout    time.Duration // a new client's time to send its hello
	mtu             int
	datagram        int
	mcastLoop       bool
	gso             bool
	unauthenticated bool
	allowUIDs       []uint32 // clients allowed by uid (none: any)
	allowGIDs       []uint32
	metrics         string // HOST:PORT of the Prometheus endpoint ("": none)

	// From a cluster file: how this node found its entry, and the nodes' names.
	picked string
	names  map[wire.NodeID]string
}

// scaledTokenTimeout is the token timeout a ring of members nodes runs with: base, plus
// coefficient for every member beyond two, as Corosync's token_coefficient. A larger
// ring has more hops for the token to make, and more nodes whose scheduling hiccups
// (a busy VM) can delay it, so a timeout right for two is too eager for sixteen. Only
// a ring with a node list (--peer, or a cluster file's [[node]] tables, the same on
// every node) knows its size; a multicast ring without one runs with base.
func scaledTokenTimeout(base, coefficient time.Duration, members int) time.Duration {
	if members <= 2 {
		return base
	}
	return base + time.Duration(members-2)*coefficient
}

// transportName says how the ring's datagrams travel.
func (s *settings) transportName() string {
	if s.mcast.IsValid() {
		return "multicast " + s.mcast.String()
	}
	return "udpu (unicast to each member)"
}

// setPeers parses the --peer list. It is the member list of a udpu ring and must be the
// same on every node: so it must name this node, at its --listen address, and name
// each node and each address once. It excludes --mcast (a multicast ring learns its
// members' addresses from their traffic).
func (s *settings) setPeers(list []string) error {
	if len(list) == 0 {
		return nil
	}
	if s.mcast.IsValid() {
		return fmt.Errorf("--peer and --mcast exclude each other: --mcast for a multicast ring, --peer (each member, this node included) for unicast to each member")
	}
	byAddr := map[netip.AddrPort]wire.NodeID{}
	for _, p := range list {
		id, addr, err := parsePeer(p)
		if err != nil {
			return err
		}
		if prev, dup := s.peers[id]; dup {
			return fmt.Errorf("--peer: node %d is listed twice (%s and %s)", id, prev, addr)
		}
		if other, dup := byAddr[addr]; dup {
			return fmt.Errorf("--peer: %s is listed for node %d and node %d", addr, other, id)
		}
		s.peers[id], byAddr[addr] = addr, id
	}
	self, ok := s.peers[s.nodeID]
	switch {
	case !ok:
		return fmt.Errorf("--peer: this node (%d) is not in the list; every node takes the same list, itself included: add --peer %d@%s",
			s.nodeID, s.nodeID, s.listen)
	case self != s.listen:
		return fmt.Errorf("--peer lists this node (%d) at %s, but --listen is %s", s.nodeID, self, s.listen)
	}
	return nil
}

// checkAuthentication refuses a ring without a key beyond loopback unless asked for:
// without a key, anyone who can send to the ports can forge tokens, joins and messages.
func (s *settings) checkAuthentication() error {
	if s.keyFile != "" || s.listen.Addr().IsLoopback() || s.unauthenticated {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address and there is no --key-file: anyone who can reach it could forge tokens and messages. "+
		"Create a key (totemd keygen /etc/totem/authkey), copy it to every node and pass --key-file; or pass --unauthenticated to run without one", s.listen)
}

// DefaultDatagramSize is totemd's datagram size: large enough that a token visit
// carries many messages (the throughput), small enough that a lost frame costs little
// (a datagram is lost with any of its frames).
const DefaultDatagramSize = 16384 // measured: as fast as 65507 with GSO, and a ring that survives 5% frame loss

// parsePeer parses ID@HOST:PORT.
func parsePeer(s string) (wire.NodeID, netip.AddrPort, error) {
	idText, addrText, ok := strings.Cut(s, "@")
	if !ok {
		return 0, netip.AddrPort{}, fmt.Errorf("peer %q: want ID@HOST:PORT", s)
	}
	id, err := strconv.ParseUint(idText, 10, 32)
	if err != nil || id == 0 {
		return 0, netip.AddrPort{}, fmt.Errorf("peer %q: node id must be 1..4294967295", s)
	}
	addr, err := resolveAddrPort(addrText)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("peer %q: %w", s, err)
	}
	return wire.NodeID(id), addr, nil
}

// lookupNetIP resolves host names (a variable for the fuzz test, which must not wait on
// DNS).
var lookupNetIP = net.DefaultResolver.LookupNetIP

// resolveAddrPort parses HOST:PORT, where HOST is an IP address or a name to resolve
// ("localhost", a host in /etc/hosts or DNS). A name's IPv4 address is preferred, as
// the ring's multicast is IPv4; the name must resolve to exactly one address of that
// family, so that a node is never configured with a guess.
func resolveAddrPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want HOST:PORT", s)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port %q is not 0..65535", s, portText)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := lookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: cannot resolve %s: %w", s, host, err)
	}
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	pick := v4
	if len(pick) == 0 {
		pick = v6
	}
	pick = slices.Compact(pick)
	if len(pick) != 1 {
		return netip.AddrPort{}, fmt.Errorf("%q: %s resolves to %d addresses (%v); give one of them", s, host, len(pick), pick)
	}
	return netip.AddrPortFrom(pick[0], uint16(port)), nil
}
