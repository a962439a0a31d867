//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package multicast

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets every node on one host bind the shared multicast port.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// bindGroupAddr opens a UDP socket bound to the multicast group's own address and port,
// shared (SO_REUSEADDR, SO_REUSEPORT) with the other nodes on this host. The Go standard
// library binds a multicast listen address to the wildcard instead, which would take the
// whole port: then the node's unicast socket could not use the same port number (as
// with corosync's mcastport and the harness's 5405 for both), and the group socket
// would receive unicast datagrams to that port too.
func bindGroupAddr(group netip.AddrPort) (*net.UDPConn, error) {
	sa6 := &unix.SockaddrInet6{Port: int(group.Port()), Addr: group.Addr().As16()}
	if zone := group.Addr().Zone(); zone != "" { // a scoped IPv6 group: bound on its interface
		ifi, err := net.InterfaceByName(zone)
		if err != nil {
			return nil, fmt.Errorf("bind %v: %w", group, err)
		}
		sa6.ZoneId = uint32(ifi.Index)
	}
	family, sa := unix.AF_INET6, unix.Sockaddr(sa6)
	if group.Addr().Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	unix.CloseOnExec(fd)
	err = unix.SetNonblock(fd, true)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %v: %w", group, err)
	}
	f := os.NewFile(uintptr(fd), "udp-group")
	defer f.Close() // FilePacketConn dups it
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// socketBuffers reads back the effective receive and send buffer sizes. Linux reports
// twice the granted request (it counts its bookkeeping overhead), so it is halved to be
// comparable with what was asked for.
func socketBuffers(c *net.UDPConn) (rcv, snd int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, -1, err
	}
	var rerr, serr error
	err = rc.Control(func(fd uintptr) {
		rcv, rerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	if err == nil {
		err = rerr
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		return -1, -1, err
	}
	if runtime.GOOS == "linux" {
		rcv, snd = rcv/2, snd/2
	}
	return rcv, snd, nil
}
