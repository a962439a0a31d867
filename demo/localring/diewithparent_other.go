//go:build !linux

package localring

import "os/exec"

// DieWithParent does nothing here: only Linux can tie a child's life to its parent's
// (Pdeathsig). Elsewhere a daemon outlives a process killed before it could Close its
// Ring, and must be killed by hand.
func DieWithParent(*exec.Cmd) {}
