package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
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
	maxMessage      int
	eventQueue      int
	eventQueueBytes int
	mtu             int
	datagram        int
	mcastLoop       bool
	gso             bool
	unauthenticated bool
	allowUIDs       []uint32 // clients allowed by uid (none: any)
	allowGIDs       []uint32
	metrics         string // HOST:PORT of the Prometheus endpoint ("": none)
}

// scaledTokenTimeout is the token timeout a ring of members nodes runs with: base, plus
// coefficient for every member beyond two, as Corosync's token_coefficient. A larger
// ring has more hops for the token to make, and more nodes whose scheduling hiccups
// (a busy VM) can delay it, so a timeout right for two is too eager for sixteen. Only
// a udpu ring knows its size from its configuration (the peer list, the same on every
// node); a multicast ring runs with base.
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

// readConfigFile parses a config file: one "key value" (or "key = value") per line,
// with the flags' names as keys and "#" comments. Only the list keys (repeatedKeys) may
// appear more than once. Flags given on the command line win over the file.
func readConfigFile(path string) (map[string][]string, error) {
	values, _, err := readConfigLines(path)
	return values, err
}

// readConfigLines is readConfigFile that also says on which line each key was (its
// last line, for a list), so that a value refused later is reported with its line.
func readConfigLines(path string) (map[string][]string, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	out := make(map[string][]string)
	lines := make(map[string]int)
	sc := bufio.NewScanner(f)
	line := 1
	for ; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			key, value, ok = strings.Cut(text, " ")
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || value == "" {
			return nil, nil, fmt.Errorf("config %s:%d: want \"key value\", got %q", path, line, text)
		}
		if !knownKeys[key] {
			return nil, nil, fmt.Errorf("config %s:%d: unknown key %q", path, line, key)
		}
		if first, again := lines[key]; again && !repeatedKeys[key] {
			return nil, nil, fmt.Errorf("config %s:%d: %s is given again (first on line %d); only %s may be repeated",
				path, line, key, first, strings.Join(slices.Sorted(maps.Keys(repeatedKeys)), ", "))
		}
		out[key] = append(out[key], value)
		lines[key] = line
	}
	if err := sc.Err(); err != nil { // a line over 64 KiB, or a read error
		return nil, nil, fmt.Errorf("config %s:%d: %w", path, line, err)
	}
	return out, lines, nil
}

// repeatedKeys are the list settings: each line adds one.
var repeatedKeys = map[string]bool{"peer": true, "allow-uid": true, "allow-gid": true}

var knownKeys = map[string]bool{
	"node-id": true, "cluster": true, "listen": true, "mcast": true, "interface": true, "peer": true,
	"socket": true, "state-dir": true, "key-file": true, "token-timeout": true, "token-coefficient": true, "log-level": true,
	"max-message-size": true, "event-queue": true, "event-queue-bytes": true, "unauthenticated": true, "mtu": true, "datagram-size": true, "multicast-loop": true, "gso": true,
	"allow-uid": true, "allow-gid": true, "metrics": true,
}

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
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
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
