// Package cliutil is what this module's commands share about talking to a shell: usage
// errors and the exit status they call for, and a writer several goroutines may print
// to. Every command exits 0 on success, 1 when the command failed and 2 on a usage or
// configuration error, with one line on standard error that names the command.
package cliutil

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/urfave/cli/v2"
)

// Usagef is a usage error: its message, and exit status 2.
func Usagef(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}

// ExitCode prints err, if any, as "prog: message" on w and returns the exit status it
// calls for: 0 without an error, the code of a cli.ExitCoder (2 for Usagef), else 1.
func ExitCode(w io.Writer, prog string, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(w, "%s: %s\n", prog, msg)
	}
	return code
}

// LockedWriter is an io.Writer that several goroutines may write to: each Write goes
// to W whole, one at a time.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p to W under the lock.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
