package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

// dialBudget bounds connecting to the daemon, retried every dialRetry as cpgload
// retries cpg_initialize (about 5 s). A variable for the tests.
var dialBudget = 10 * time.Second

const (
	dialRetry = 100 * time.Millisecond
	// joinTimeout bounds the join request (the wait for the members is -w).
	joinTimeout = 10 * time.Second
	// leaveTimeout bounds the leave at the end.
	leaveTimeout = 2 * time.Second
	// eventBuffer is how many events the client holds beyond the daemon's queue.
	eventBuffer = 65536
)

// run is the program: it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	stderr = &cliutil.LockedWriter{W: stderr}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return 2
	}
	if dir := getenv("TOTEMLOAD_CPU_PROFILE_DIR"); dir != "" { // for the harness's profiles
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("totemload%d.pprof", cfg.idx)))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	l := &load{cfg: cfg, stdout: stdout, stderr: stderr, signaled: make(chan struct{}), over: make(chan struct{})}
	defer close(l.over)
	go func() { // a signal makes every wait give up
		select {
		case <-sigs:
			close(l.signaled)
		case <-l.over:
		}
	}()
	var log io.Writer // the delivery log (-l), written by the receiving goroutine
	if cfg.logPath != "" {
		f, err := os.Create(cfg.logPath)
		if err != nil {
			l.errorf("%v", err)
			return 2
		}
		buf := bufio.NewWriterSize(f, 256<<10)
		defer func() { // once the receiving goroutine has stopped
			if err := errors.Join(buf.Flush(), f.Close()); err != nil {
				l.errorf("delivery log: %v", err)
			}
		}()
		log = buf
	}
	l.tally = newTally(&l.cfg, log)
	if l.cl, err = l.dial(); err != nil {
		l.errorf("%v", err)
		return 2
	}
	defer l.cl.Close()
	l.nodeID = uint32(l.cl.Info().NodeID)
	return l.run()
}

// load is one run of the program.
type load struct {
	cfg      config
	stdout   io.Writer
	stderr   io.Writer
	cl       *client.Client
	nodeID   uint32
	signaled chan struct{} // closed on SIGINT or SIGTERM
	over     chan struct{} // closed when run returns

	// tally belongs to the receiving goroutine until it has stopped.
	tally *tally
	// The receiving goroutine closes these.
	ready    chan struct{} // the group has NODES members; tally.t0 is set
	allEnds  chan struct{} // every sender's END is delivered
	lost     chan struct{} // the connection ended
	stopRecv chan struct{} // closed by run: stop receiving
	stopped  chan struct{} // the receiving goroutine no longer touches the tally
}

func (l *load) errorf(format string, a ...any) {
	fmt.Fprintf(l.stderr, "totemload[%d]: "+format+"\n", append([]any{l.cfg.idx}, a...)...)
}

// dial connects to the daemon, retrying while it is not there yet.
func (l *load) dial() (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialBudget)
	defer cancel()
	for {
		cl, err := client.Dial(ctx, l.cfg.socket, client.WithName("totemload"), client.WithEventBuffer(eventBuffer))
		if err == nil {
			return cl, nil
		}
		t := time.NewTimer(dialRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-l.signaled:
			t.Stop()
			return nil, err
		}
	}
}

// run joins, waits for the group, sends and receives, and prints the result.
func (l *load) run() int {
	cfg := &l.cfg
	l.ready, l.allEnds, l.lost = make(chan struct{}), make(chan struct{}), make(chan struct{})
	l.stopRecv, l.stopped = make(chan struct{}), make(chan struct{})
	go l.receive()
	stopReceiving := sync.OnceFunc(func() {
		close(l.stopRecv)
		<-l.stopped
	})
	defer stopReceiving()
	defer l.leave()

	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	err := l.cl.Join(ctx, cfg.group)
	cancel()
	if err != nil {
		l.errorf("%v", err)
		return 2
	}

	// The barrier: wait until all NODES instances are in the group.
	joinWait := time.NewTimer(time.Duration(nanos(cfg.joinSecs)))
	defer joinWait.Stop()
	select {
	case <-l.ready:
	case <-l.lost:
		l.errorf("connection to the daemon lost: %v", l.cl.Err())
		return 2
	case <-joinWait.C:
	case <-l.signaled:
	}
	select {
	case <-l.ready:
	default:
		stopReceiving()
		l.errorf("only %d of %d members joined", l.tally.members, cfg.nodes)
		l.print(result{why: "join_timeout"})
		return 2
	}
	t0 := l.tally.t0 // written before ready was closed, not since

	sendDeadline := t0 + nanos(cfg.sendSecs)
	hardDeadline := t0 + nanos(cfg.hardSecs)
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	var sendDone chan sendResult
	if cfg.isSender() {
		sendDone = make(chan sendResult, 1)
		go func() { sendDone <- l.send(sendCtx, t0, sendDeadline) }()
	}
	hard := time.NewTimer(time.Duration(hardDeadline - min(mono(), hardDeadline)))
	defer hard.Stop()

	var (
		sres       sendResult
		senderDone = !cfg.isSender()
		endsDone   = false
		why        string
		fatal      bool
	)
	allEnds := l.allEnds
	for !(endsDone && senderDone) && why == "" {
		select {
		case <-allEnds:
			endsDone, allEnds = true, nil
		case sres = <-sendDone:
			senderDone, sendDone = true, nil
			if sres.err != nil {
				l.errorf("multicast failed: %v", sres.err)
				why, fatal = "send_error", true
			}
		case <-l.lost:
			l.errorf("connection to the daemon lost: %v", l.cl.Err())
			why, fatal = "dispatch_error", true
		case <-l.signaled:
			why = "signal"
		case <-hard.C:
			why = "hard_timeout"
		}
	}
	cancelSend()
	if !senderDone {
		sres = <-sendDone // it gives up at once now
	}
	stopReceiving()
	t := l.tally
	complete := !fatal && why == "" && t.complete()
	l.print(result{complete: complete, sent: sres.sent, tryAgain: sres.tryAgain, why: why})
	if complete {
		return 0
	}
	return 1
}

func (l *load) print(r result) {
	r.nodeID = l.nodeID
	io.WriteString(l.stdout, formatResult(&l.cfg, l.tally, r))
}

// leave leaves the group, as cpgload's cpg_leave; the connection closes after it.
func (l *load) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	l.cl.Leave(ctx, l.cfg.group) // nothing to do about an error, the connection closes next
}

// receive reads the events until run stops it: it keeps the tally and tells run when
// the group has formed and when every END is delivered. Once stopped it drains the
// events until the connection closes, so that the replies behind them still come.
func (l *load) receive() {
	defer close(l.stopped)
	cfg, t := &l.cfg, l.tally
	events := l.cl.Events()
	for {
		select {
		case <-l.stopRecv:
			go func() {
				for range events {
				}
			}()
			return
		case ev, ok := <-events:
			if !ok {
				close(l.lost)
				<-l.stopRecv
				return
			}
			switch ev := ev.(type) {
			case client.Message:
				if ev.Group != cfg.group {
					continue
				}
				wasDone := t.done()
				t.deliver(uint32(ev.Sender.Node), ev.Data, mono())
				if !wasDone && t.done() {
					close(l.allEnds)
				}
			case client.View:
				if ev.Group != cfg.group {
					continue
				}
				t.view(len(ev.Members), len(ev.Left))
				if cfg.verbose {
					l.errorf("view members=%d left=%d joined=%d", len(ev.Members), len(ev.Left), len(ev.Joined))
				}
				if !t.started && t.members >= cfg.nodes {
					t.started, t.t0 = true, mono()
					close(l.ready)
				}
			}
		}
	}
}
