//go:build !linux

package ipc

import "net"

// PeerCred returns ErrNoCred: only Linux's SO_PEERCRED is supported.
func PeerCred(c *net.UnixConn) (Cred, error) { return Cred{}, ErrNoCred }
