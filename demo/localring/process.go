package localring

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Process is a running program whose standard output is read line by line as it comes:
// a demo's replica or chat window, or a listener, watched by the demo tour or by a test.
// Its standard input is a pipe, its standard error is kept (Stderr), and it dies with
// this process (DieWithParent).
type Process struct {
	Cmd   *exec.Cmd
	Stdin io.WriteCloser // closing it is the program's end of input

	stderr Buffer
	onLine func(string)

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // capacity 1: a line came, or the output ended
	exited  chan struct{} // closed once the program has been waited for
	err     error         // its exit status, once exited
}

// StartProcess starts cmd, whose Stdout, Stdin and Stderr must be unset. onLine, if not
// nil, is called with each output line as it is read, from one goroutine.
func StartProcess(cmd *exec.Cmd, onLine func(line string)) (*Process, error) {
	p := &Process{Cmd: cmd, onLine: onLine, changed: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.Stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go p.read(stdout)
	return p, nil
}

func (p *Process) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if p.onLine != nil {
			p.onLine(line)
		}
		p.mu.Lock()
		p.lines = append(p.lines, line)
		p.mu.Unlock()
		p.poke()
	}
	err := p.Cmd.Wait()
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	close(p.exited)
	p.poke()
}

func (p *Process) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Lines returns the output lines read so far.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// Stderr returns what the program wrote to its standard error so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited is closed once the program has exited and its output has been read.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the program's exit status once it has exited (nil: status 0).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// WaitLine waits until a line at index from or later satisfies ok, and returns its
// index. It fails when ctx ends or the program's output ends first. One goroutine at a
// time waits on a Process.
func (p *Process) WaitLine(ctx context.Context, from int, ok func(line string) bool) (int, error) {
	for {
		lines := p.Lines()
		for i := from; i < len(lines); i++ {
			if ok(lines[i]) {
				return i, nil
			}
		}
		from = max(from, len(lines))
		select {
		case <-p.exited:
			if len(p.Lines()) == len(lines) {
				return -1, fmt.Errorf("%s exited (%v) without the line awaited", p.Cmd.Path, p.Err())
			}
		default:
		}
		select {
		case <-p.changed:
		case <-ctx.Done():
			return -1, fmt.Errorf("%s: no line awaited: %w", p.Cmd.Path, ctx.Err())
		}
	}
}

// WaitExit waits at most d for the program to exit and reports whether it did.
func (p *Process) WaitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// Stop asks the program to end (SIGTERM), kills it after grace, and waits for it.
func (p *Process) Stop(grace time.Duration) {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if !p.WaitExit(grace) {
		p.Kill()
	}
}

// Kill kills the program (SIGKILL) and waits for it, at most killTimeout.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	p.WaitExit(killTimeout)
}

// Buffer is a bytes.Buffer that a process's output goroutine writes while a reader
// reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p under the lock; it is the io.Writer the output goroutine writes to.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns a copy of everything written so far; safe while writes go on.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
