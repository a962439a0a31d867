package localring

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel SIGKILL cmd's process when this process dies, so that
// a test binary killed by its timeout, or a demo stopped with ^C, leaves no daemon
// behind: deferred calls and testing.T cleanups do not run then. Call it before
// cmd.Start; it keeps any other SysProcAttr settings.
//
// Strictly, Linux sends the signal when the thread that started the process exits. Go
// ends a thread only when a goroutine that locked it (runtime.LockOSThread) returns
// without unlocking it, so do not start processes from such a goroutine.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
