package multicast

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchConn is the recvmmsg/sendmmsg view of a socket. ipv4.PacketConn and
// ipv6.PacketConn both provide it (their Message types are the same type).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// open opens the unicast socket and, in multicast mode, the group socket. The caller closes
// whatever was opened when it fails.
func (u *UDP) open() error {
	if err := u.openUnicast(); err != nil {
		return err
	}
	if u.udpu {
		return nil
	}
	ifi, err := u.multicastInterface()
	if err != nil {
		return err
	}
	if err := u.setupSender(ifi); err != nil {
		return err
	}
	return u.openGroup(ifi)
}

func (u *UDP) openUnicast() error {
	network, v4 := "udp6", u.cfg.Listen.Addr().Is4()
	if v4 {
		network = "udp4"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(u.cfg.Listen))
	if err != nil {
		return fmt.Errorf("multicast: udp: listen %v: %w", u.cfg.Listen, err)
	}
	u.ucast = c
	u.local = unmapAddrPort(c.LocalAddr().(*net.UDPAddr).AddrPort())
	u.tuneBuffers(c, "unicast")
	if v4 {
		u.ubatch = ipv4.NewPacketConn(c)
	} else {
		u.ubatch = ipv6.NewPacketConn(c)
	}
	return nil
}

// setupSender prepares the unicast socket to send multicasts. Sending them from the unicast
// socket makes their source address the one the token must be sent to. Loopback is on
// unless UDPConfig.NoLoopback, because other nodes on this host must hear us; our own
// echo is dropped by node id.
func (u *UDP) setupSender(ifi *net.Interface) error {
	if !u.cfg.Mcast.Addr().Is4() {
		return u.setupSender6(ifi)
	}
	p := ipv4.NewPacketConn(u.ucast)
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("multicast: udp: multicast interface %s: %w", ifi.Name, err)
		}
	}
	if err := p.SetMulticastTTL(u.cfg.TTL); err != nil {
		return fmt.Errorf("multicast: udp: multicast TTL: %w", err)
	}
	if err := p.SetMulticastLoopback(!u.cfg.NoLoopback); err != nil {
		return fmt.Errorf("multicast: udp: multicast loopback: %w", err)
	}
	return nil
}

// openGroup binds the receiving socket to the group's port, shared (SO_REUSEADDR,
// SO_REUSEPORT) with the other nodes on this host, and joins the group.
func (u *UDP) openGroup(ifi *net.Interface) error {
	if g := u.cfg.Mcast.Addr(); ifi != nil && g.Is6() && (g.IsLinkLocalMulticast() || g.IsInterfaceLocalMulticast()) {
		// A scoped IPv6 group exists on one interface: it is bound, joined and sent to
		// there.
		u.cfg.Mcast = netip.AddrPortFrom(g.WithZone(ifi.Name), u.cfg.Mcast.Port())
	}
	c, err := listenShared(u.cfg.Mcast)
	if err != nil {
		return err
	}
	u.mcast = c
	u.tuneBuffers(c, "multicast")
	g := net.UDPAddrFromAddrPort(u.cfg.Mcast)
	var p interface {
		batchConn
		JoinGroup(*net.Interface, net.Addr) error
	}
	if u.cfg.Mcast.Addr().Is4() {
		p = ipv4.NewPacketConn(c)
	} else {
		p = ipv6.NewPacketConn(c)
	}
	if err := p.JoinGroup(ifi, g); err != nil {
		return fmt.Errorf("multicast: udp: join %v on %s: %w", g.IP, ifaceName(ifi), err)
	}
	u.mbatch = p
	u.group = g
	return nil
}

// setupSender6 is setupSender for an IPv6 group: the interface, hop limit and loopback.
func (u *UDP) setupSender6(ifi *net.Interface) error {
	p := ipv6.NewPacketConn(u.ucast)
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("multicast: udp: multicast interface %s: %w", ifi.Name, err)
		}
	}
	if err := p.SetMulticastHopLimit(u.cfg.TTL); err != nil {
		return fmt.Errorf("multicast: udp: multicast hop limit: %w", err)
	}
	if err := p.SetMulticastLoopback(!u.cfg.NoLoopback); err != nil {
		return fmt.Errorf("multicast: udp: multicast loopback: %w", err)
	}
	return nil
}

// listenShared binds to the group address itself where the OS allows it (bindGroupAddr),
// so that the socket receives only that group's traffic and leaves the port's unicast
// to the node's own socket; it falls back to the wildcard address elsewhere.
func listenShared(group netip.AddrPort) (*net.UDPConn, error) {
	c, err := bindGroupAddr(group)
	if err == nil {
		return c, nil
	}
	lc := net.ListenConfig{Control: reuseControl}
	network, wildcard := "udp4", netip.AddrPortFrom(netip.IPv4Unspecified(), group.Port())
	if !group.Addr().Is4() {
		network, wildcard = "udp6", netip.AddrPortFrom(netip.IPv6Unspecified(), group.Port())
	}
	pc, err2 := lc.ListenPacket(context.Background(), network, wildcard.String())
	if err2 != nil {
		return nil, fmt.Errorf("multicast: udp: listen %v: %w", group, errors.Join(err, err2))
	}
	return pc.(*net.UDPConn), nil
}

// multicastInterface resolves cfg.Interface, or the interface owning the Listen address.
// nil means the kernel's choice (Listen is the unspecified address).
func (u *UDP) multicastInterface() (*net.Interface, error) {
	if u.cfg.Interface != "" {
		ifi, err := net.InterfaceByName(u.cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("multicast: udp: interface %q: %w", u.cfg.Interface, err)
		}
		return ifi, nil
	}
	addr := u.cfg.Listen.Addr()
	if addr.IsUnspecified() {
		u.log.Warn("udp: no interface and unspecified listen address: the kernel picks the multicast interface")
		return nil, nil
	}
	return interfaceOf(addr)
}

// interfaceOf finds the interface that has addr assigned.
func interfaceOf(addr netip.Addr) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("multicast: udp: list interfaces: %w", err)
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == addr {
					return &ifs[i], nil
				}
			}
		}
	}
	return nil, fmt.Errorf("multicast: udp: no interface has address %v", addr)
}

func ifaceName(ifi *net.Interface) string {
	if ifi == nil {
		return "the default interface"
	}
	return ifi.Name
}

// tuneBuffers requests cfg.SocketBuffer for both directions and warns when the OS grants
// less (Linux caps the request at net.core.rmem_max / wmem_max).
func (u *UDP) tuneBuffers(c *net.UDPConn, name string) {
	want := u.cfg.SocketBuffer
	if err := c.SetReadBuffer(want); err != nil {
		u.log.Warn("udp: set receive buffer", "socket", name, "err", err)
	}
	if err := c.SetWriteBuffer(want); err != nil {
		u.log.Warn("udp: set send buffer", "socket", name, "err", err)
	}
	rcv, snd, err := socketBuffers(c)
	if err != nil || rcv < 0 {
		return // unknown on this platform
	}
	if rcv < want || snd < want {
		u.log.Warn("udp: socket buffers capped by the OS; raise net.core.rmem_max and wmem_max",
			"socket", name, "requested", want, "receive", rcv, "send", snd)
	}
}
