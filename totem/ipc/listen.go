package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// DefaultSocketMode lets the owner and the group use the daemon's socket.
const DefaultSocketMode os.FileMode = 0o660

// ErrSocketInUse: a daemon is already listening on the socket path.
var ErrSocketInUse = errors.New("ipc: socket in use")

// Listen creates a Unix stream socket at path with the given mode (0 means
// DefaultSocketMode). A socket file left by a daemon that died is removed first, but
// only once a connection attempt shows nothing listens on it; a live socket gives
// ErrSocketInUse and anything that is not a socket is left alone. The listener removes
// the file when closed.
//
// The file exists with the umask's mode for a moment before it is changed to mode; the
// credentials check of Serve covers that moment.
func Listen(path string, mode os.FileMode) (*net.UnixListener, error) {
	if mode == 0 {
		mode = DefaultSocketMode
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ipc: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ipc: listen %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes a socket file nobody listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: listen %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("ipc: listen %s: exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("ipc: listen %s: %w", path, ErrSocketInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("ipc: listen %s: probing the existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipc: listen %s: removing stale socket: %w", path, err)
	}
	return nil
}
