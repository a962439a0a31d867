package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest asks the kernel to kill cmd when the test process dies, so that a test
// binary killed by its timeout leaves no daemon behind (t.Cleanup does not run then).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
