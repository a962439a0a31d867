package multicast

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Defaults and limits of UDPConfig.
const (
	DefaultMTU          = 1500
	DefaultTTL          = 1
	DefaultSocketBuffer = 4 << 20
	DefaultQueueLen     = 4096

	minMTU        = 576   // the smallest datagram every IPv4 host must accept
	maxMTU        = 65535 // IP's total-length field
	udpHeaderLen  = 8
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// UDPConfig configures a UDP transport. Zero values take the documented defaults.
type UDPConfig struct {
	NodeID  wire.NodeID
	Cluster uint32 // wire.ClusterHash of the cluster name; datagrams of other clusters are dropped
	// Listen is this node's unicast address: tokens arrive here, and in multicast mode the
	// multicasts leave from it, so that peers learn it from the source address. Port 0
	// picks a free port (tests); see LocalAddr.
	Listen netip.AddrPort
	// Mcast is the multicast group and port (IPv4, or IPv6 with an IPv6 Listen address). The zero value selects udpu mode: every
	// multicast becomes one unicast per member of Peers.
	Mcast netip.AddrPort
	// Interface names the interface that joins the group and sends multicasts ("lo", "eth0").
	// Empty: the interface that owns the Listen address (the kernel's choice if Listen is
	// unspecified).
	Interface string
	TTL       int // multicast TTL, 1..255, default 1 (never leave the subnet)
	// NoLoopback stops the kernel from looping our multicasts back to this host: right
	// when no other node shares the host (and its network namespace). Every frame then
	// costs the sender one copy less in the kernel, and our reader one echo less to drop.
	NoLoopback bool
	// NoGSO sends every frame of a large datagram on its own instead of handing them to
	// the kernel as one UDP GSO send (cheaper, the default where the OS has it).
	NoGSO bool
	// Peers are the static members' unicast addresses. Required in udpu mode, where datagrams
	// from any other address are dropped. Optional in multicast mode, where addresses are
	// otherwise learned from the source address of received datagrams.
	Peers  map[wire.NodeID]netip.AddrPort
	Sealer Sealer // nil: checksum only
	// MTU is the path MTU (default 1500): the largest frame sent, IP and UDP headers
	// included, so that no frame is ever IP-fragmented.
	MTU int
	// Datagram is the largest datagram the transport carries (MaxPayload), up to
	// wire.MaxDatagram. One larger than what a frame holds is cut into frames by the
	// transport and put together again by the receiver (udp_frag.go). Zero: what one
	// frame holds, no fragmentation.
	Datagram int
	// SocketBuffer is the SO_RCVBUF/SO_SNDBUF request (default 4 MiB). A burst of
	// retransmissions overruns a small receive buffer and the losses feed more
	// retransmissions, so a cap by the OS is logged as a warning.
	SocketBuffer int
	QueueLen     int          // bound of the Packets channel (default 4096); overflow is dropped
	Logger       *slog.Logger // nil: discard
}

// UDP is the real network transport: IPv4 multicast, or unicast-only "udpu" over IPv4 or
// IPv6. It implements Transport; see UDPConfig for the two modes.
type UDP struct {
	cfg          UDPConfig // defaults applied
	log          *slog.Logger
	udpu         bool
	maxPayload   int // the largest datagram
	framePayload int // the largest datagram sent in one frame
	reasm        *reassembler
	fragID       atomic.Uint32 // numbers our fragmented datagrams
	noGSO        atomic.Bool   // the kernel refused UDP segmentation offload
	local        netip.AddrPort

	ucast  *net.UDPConn // Listen: receives unicasts, sends everything
	ubatch batchConn    // ucast with recvmmsg/sendmmsg
	mcast  *net.UDPConn // bound to the group; nil in udpu mode
	mbatch batchConn
	group  *net.UDPAddr // multicast destination; nil in udpu mode

	static  map[wire.NodeID]peerAddr    // cfg.Peers without self; immutable
	fanout  []*net.UDPAddr              // udpu: every static peer's address; immutable
	allowed map[netip.AddrPort]struct{} // udpu: accepted source addresses; immutable

	learnMu sync.RWMutex
	learned map[wire.NodeID]peerAddr // multicast mode: sender id -> source address

	// closeMu orders sends on packets from outside the readers (Unicast to self) before the
	// channel is closed: they hold it shared and check closed; Close sets closed holding it.
	closeMu   sync.RWMutex
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	packets   chan Packet

	batches sync.Pool // *sendBatch
	warnDup atomic.Bool
	st      udpStats

	authDrops, headerDrops, replayDrops *dropLog // rate-limited reports of rejected datagrams
	dupIDs                              *dupIDLog

	heard  *heardTable   // every node heard: address and time (heard.go)
	replay *replayFilter // with a key: drops replayed datagrams (replay.go)
	epoch  uint64        // our own Sealer's epoch (with a key)
}

var _ Transport = (*UDP)(nil)

// peerAddr keeps a member's address in both forms: netip for comparison and map keys, and a
// ready *net.UDPAddr so that batch sends do not allocate one per datagram.
type peerAddr struct {
	ap netip.AddrPort
	ua *net.UDPAddr
}

func newPeerAddr(ap netip.AddrPort) peerAddr {
	return peerAddr{ap: ap, ua: net.UDPAddrFromAddrPort(ap)}
}

type udpStats struct {
	sent, sendErrors, received                                atomic.Uint64
	dropOpen, dropHeader, dropSelf, dropOverflow, dropUnknown atomic.Uint64
	dropFragment, dropReplay, dropDuplicateID                 atomic.Uint64
}

// NewUDP opens the sockets and starts the readers. On failure it closes whatever it opened.
func NewUDP(cfg UDPConfig) (*UDP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u := &UDP{
		cfg:     cfg,
		log:     cfg.Logger,
		udpu:    !cfg.Mcast.IsValid(),
		learned: make(map[wire.NodeID]peerAddr),
		packets: make(chan Packet, cfg.QueueLen),
	}
	u.authDrops = newDropLog(u.log, "udp: dropped datagrams that failed authentication",
		"a node with another key (or without one), or forged or corrupted datagrams: every node of a ring needs the same --key-file")
	u.headerDrops = newDropLog(u.log, "udp: dropped datagrams of another cluster",
		"another ring on this network (another --cluster name or protocol version), or traffic that is not totem's")
	u.replayDrops = newDropLog(u.log, "udp: dropped replayed datagrams",
		"copies of this ring's datagrams sent again (a recording replayed, or a duplicating network); a node whose clock went back across a restart is accepted again after "+replayForget.String()+" of silence")
	u.dupIDs = newDupIDLog(u.log)
	if e, ok := sealerEpoch(cfg.Sealer); ok {
		u.replay, u.epoch = newReplayFilter(), e
	}
	u.framePayload = maxPayload(cfg.MTU, cfg.Listen.Addr().Is4(), cfg.Sealer.Overhead())
	u.maxPayload = u.framePayload
	if cfg.Datagram > 0 {
		u.maxPayload = cfg.Datagram
	}
	u.reasm = newReassembler(cfg.NodeID, cfg.Cluster, u.maxPayload)
	u.noGSO.Store(cfg.NoGSO)
	u.setPeers()
	u.heard = newHeardTable(slices.Collect(maps.Keys(u.static)))
	u.batches.New = func() any { return new(sendBatch) }
	if err := u.open(); err != nil {
		u.closeSockets()
		return nil, err
	}
	u.startReaders()
	return u, nil
}

// withDefaults validates c and fills in its defaults.
func (c UDPConfig) withDefaults() (UDPConfig, error) {
	if c.NodeID == 0 {
		return c, errors.New("multicast: udp: node id 0 is reserved")
	}
	if !c.Listen.IsValid() {
		return c, errors.New("multicast: udp: no listen address")
	}
	c.Listen = unmapAddrPort(c.Listen)
	if err := c.checkMcast(); err != nil {
		return c, err
	}
	if err := c.checkPeers(); err != nil {
		return c, err
	}
	if err := c.numbersWithDefaults(); err != nil {
		return c, err
	}
	if c.Sealer == nil {
		c.Sealer, _ = NewSealer(nil) // never fails without a key
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c *UDPConfig) checkMcast() error {
	if !c.Mcast.IsValid() {
		return nil
	}
	c.Mcast = unmapAddrPort(c.Mcast)
	switch g := c.Mcast.Addr(); {
	case !g.IsMulticast():
		return fmt.Errorf("multicast: udp: %v is not a multicast group", g)
	case c.Mcast.Port() == 0:
		return errors.New("multicast: udp: multicast port 0")
	case g.Is4() != c.Listen.Addr().Is4():
		return fmt.Errorf("multicast: udp: group %v and listen address %v are not of one IP family", g, c.Listen.Addr())
	}
	return nil
}

func (c *UDPConfig) checkPeers() error {
	if !c.Mcast.IsValid() && len(c.Peers) == 0 {
		return errors.New("multicast: udp: udpu mode (no multicast group) needs Peers")
	}
	peers := make(map[wire.NodeID]netip.AddrPort, len(c.Peers))
	for id, ap := range c.Peers {
		ap = unmapAddrPort(ap)
		switch {
		case id == 0:
			return errors.New("multicast: udp: peer with node id 0")
		case !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified():
			return fmt.Errorf("multicast: udp: peer %d: bad address %v", id, ap)
		case ap.Addr().Is4() != c.Listen.Addr().Is4():
			return fmt.Errorf("multicast: udp: peer %d: address %v is not of the listen address's family", id, ap)
		}
		peers[id] = ap
	}
	c.Peers = peers // our own copy: the caller may change theirs
	return nil
}

func (c *UDPConfig) numbersWithDefaults() error {
	c.MTU = orDefault(c.MTU, DefaultMTU)
	c.TTL = orDefault(c.TTL, DefaultTTL)
	c.SocketBuffer = orDefault(c.SocketBuffer, DefaultSocketBuffer)
	c.QueueLen = orDefault(c.QueueLen, DefaultQueueLen)
	switch {
	case c.MTU < minMTU || c.MTU > maxMTU:
		return fmt.Errorf("multicast: udp: MTU %d outside %d..%d", c.MTU, minMTU, maxMTU)
	case c.Datagram < 0 || c.Datagram > wire.MaxDatagram:
		return fmt.Errorf("multicast: udp: datagram size %d outside 0..%d", c.Datagram, wire.MaxDatagram)
	case c.TTL < 1 || c.TTL > 255:
		return fmt.Errorf("multicast: udp: TTL %d outside 1..255", c.TTL)
	case c.SocketBuffer < 0:
		return fmt.Errorf("multicast: udp: negative socket buffer %d", c.SocketBuffer)
	case c.QueueLen < 0:
		return fmt.Errorf("multicast: udp: negative queue length %d", c.QueueLen)
	}
	return nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// maxPayload is the plaintext budget of one unfragmented datagram (design §8.5).
func maxPayload(mtu int, v4 bool, overhead int) int {
	ip := ipv6HeaderLen
	if v4 {
		ip = ipv4HeaderLen
	}
	return min(mtu-ip-udpHeaderLen-overhead, wire.MaxDatagram)
}

// unmapAddrPort turns an IPv4-mapped IPv6 address into plain IPv4, so that the same peer
// always has the same map key whichever way the OS reported it.
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// setPeers builds the immutable peer tables from the validated config.
func (u *UDP) setPeers() {
	u.static = make(map[wire.NodeID]peerAddr, len(u.cfg.Peers))
	u.allowed = make(map[netip.AddrPort]struct{}, len(u.cfg.Peers))
	for id, ap := range u.cfg.Peers {
		u.allowed[ap] = struct{}{}
		if id == u.cfg.NodeID {
			continue
		}
		p := newPeerAddr(ap)
		u.static[id] = p
		u.fanout = append(u.fanout, p.ua)
	}
}

// LocalAddr is the address the unicast socket is bound to (with the port the OS chose when
// Listen asked for port 0).
func (u *UDP) LocalAddr() netip.AddrPort { return u.local }

// Packets implements Transport.
func (u *UDP) Packets() <-chan Packet { return u.packets }

// MaxPayload implements Transport.
func (u *UDP) MaxPayload() int { return u.maxPayload }

// Stats implements Transport.
func (u *UDP) Stats() Stats {
	return Stats{
		Sent:         u.st.sent.Load(),
		SendErrors:   u.st.sendErrors.Load(),
		Received:     u.st.received.Load(),
		DropOpen:     u.st.dropOpen.Load(),
		DropHeader:   u.st.dropHeader.Load(),
		DropSelf:     u.st.dropSelf.Load(),
		DropOverflow: u.st.dropOverflow.Load(),
		DropUnknown:  u.st.dropUnknown.Load(),
		DropFragment: u.st.dropFragment.Load(),
		DropReplay:   u.st.dropReplay.Load(),
		DropDupID:    u.st.dropDuplicateID.Load(),
	}
}

// Close closes the sockets, waits for the readers to exit and then closes Packets. Later
// calls return the first call's result.
func (u *UDP) Close() error {
	u.closeOnce.Do(func() {
		u.closeMu.Lock()
		u.closed.Store(true)
		u.closeMu.Unlock()
		u.closeErr = u.closeSockets()
		u.wg.Wait()
		close(u.packets)
	})
	return u.closeErr
}

func (u *UDP) closeSockets() error {
	var errs []error
	for _, c := range []*net.UDPConn{u.ucast, u.mcast} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// lookup returns a member's unicast address: static peers first, then learned ones.
func (u *UDP) lookup(id wire.NodeID) (peerAddr, bool) {
	if p, ok := u.static[id]; ok {
		return p, true
	}
	u.learnMu.RLock()
	p, ok := u.learned[id]
	u.learnMu.RUnlock()
	return p, ok
}

// learn records the source address of a datagram from a member that is not a static peer,
// so that the token can be unicast to it. A node that restarts on another port is simply
// re-learned. Without a key anyone can claim any node id; with one, only key holders, and
// only with fresh datagrams (a replayed one is dropped before it gets here).
func (u *UDP) learn(id wire.NodeID, src netip.AddrPort) {
	if u.udpu {
		return
	}
	if _, ok := u.static[id]; ok {
		return
	}
	u.learnMu.RLock()
	p, ok := u.learned[id]
	u.learnMu.RUnlock()
	if ok && p.ap == src {
		return
	}
	u.learnMu.Lock()
	u.learned[id] = newPeerAddr(src)
	u.learnMu.Unlock()
	u.log.Debug("udp: learned member address", "node", id, "addr", src)
}
