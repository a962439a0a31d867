package ipc

import (
	"errors"
	"slices"
)

// Cred is what the kernel says about the process at the other end of a Unix socket, as
// of when it connected.
type Cred struct {
	PID uint32
	UID uint32
	GID uint32
}

// ErrNoCred: the platform cannot tell who the peer is.
var ErrNoCred = errors.New("ipc: peer credentials unavailable")

// Allows reports whether a peer may use the daemon. Root always may. With neither
// AllowUIDs nor AllowGIDs set, everyone who can open the socket may (the socket file's
// mode is then the only gate); otherwise the peer's uid must be in AllowUIDs or its
// primary gid in AllowGIDs (supplementary groups are not seen by SO_PEERCRED).
func (o *ServerOptions) Allows(c Cred) bool {
	if c.UID == 0 {
		return true
	}
	if len(o.AllowUIDs) == 0 && len(o.AllowGIDs) == 0 {
		return true
	}
	return slices.Contains(o.AllowUIDs, c.UID) || slices.Contains(o.AllowGIDs, c.GID)
}
