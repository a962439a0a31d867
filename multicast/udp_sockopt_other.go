//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package multicast

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// reuseControl: port sharing is not implemented on this platform, so only one node per
// host can use multicast mode.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }

// socketBuffers: unknown on this platform.
func socketBuffers(*net.UDPConn) (rcv, snd int, err error) { return -1, -1, nil }

// bindGroupAddr: not implemented on this platform; the caller binds the wildcard.
func bindGroupAddr(group netip.AddrPort) (*net.UDPConn, error) {
	return nil, errors.ErrUnsupported
}
