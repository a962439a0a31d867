package proto

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultSocket is where the daemon listens unless told otherwise, and so where clients
// look: a per-user runtime location, $XDG_RUNTIME_DIR/totem/totemd.sock, else
// /tmp/totem-UID/totemd.sock.
func DefaultSocket() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "totem", "totemd.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("totem-%d", os.Getuid()), "totemd.sock")
}
