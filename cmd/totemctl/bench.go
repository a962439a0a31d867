package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure throughput and latency through the daemon, as Corosync's cpgbench does",
		Description: "Joins GROUP and multicasts SIZE-byte messages in a loop until --count messages\n" +
			"are sent or --duration has passed, whichever is first, then waits (at most 10s) for\n" +
			"its own messages to come back. Each message carries a sequence number and its send\n" +
			"time: the run checks that every sender's messages arrive in order and intact, and\n" +
			"reports messages/s, MB/s (10^6 bytes of message data) and the latency from send to\n" +
			"delivery (p50, p99, max). Benches run at once on several nodes of a group check\n" +
			"each other's messages too. Exits 1 on a lost, reordered or corrupted message.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "group", Value: "bench", Usage: "the `GROUP` to send through"},
			&cli.IntFlag{Name: "size", Value: 256, Usage: fmt.Sprintf("message size in `BYTES` (at least %d)", benchHeader)},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "stop sending after `DURATION`"},
			&cli.IntFlag{Name: "count", Value: 10000, Usage: fmt.Sprintf("stop sending after `N` messages (at most %d)", benchMaxCount)},
			&cli.BoolFlag{Name: "safe", Usage: "safe delivery instead of agreed"},
			&cli.IntFlag{Name: "window", Value: 64, Usage: fmt.Sprintf("messages sent ahead of the daemon's answers (1..%d; 1: each waits for its answer)", benchMaxWindow)},
			jsonFlag(),
		},
		Action: bench,
	}
}

const (
	// benchHeader is a bench message's header: magic, sequence number, send time.
	benchHeader = 4 + 8 + 8
	// benchMaxCount bounds --count, and so the memory the latencies take.
	benchMaxCount = 10_000_000
	// benchMaxWindow bounds --window.
	benchMaxWindow = 4096
	// benchDrain bounds the wait for the last own messages once sending has stopped.
	benchDrain = 10 * time.Second
)

// benchMagic marks bench messages, so that other traffic in the group is told apart.
var benchMagic = []byte("TBN1")

type benchConfig struct {
	group    string
	size     int
	count    int
	duration time.Duration
	window   int
	level    client.Level
}

func benchFlags(c *cli.Context) (benchConfig, error) {
	cfg := benchConfig{group: c.String("group"), size: c.Int("size"), count: c.Int("count"),
		duration: c.Duration("duration"), window: c.Int("window"), level: client.Agreed}
	if c.Bool("safe") {
		cfg.level = client.Safe
	}
	switch {
	case cfg.group == "":
		return cfg, cliutil.Usagef("bench: --group must not be empty")
	case cfg.size < benchHeader:
		return cfg, cliutil.Usagef("bench: --size must be at least %d bytes", benchHeader)
	case cfg.count < 1 || cfg.count > benchMaxCount:
		return cfg, cliutil.Usagef("bench: --count must be 1..%d", benchMaxCount)
	case cfg.window < 1 || cfg.window > benchMaxWindow:
		return cfg, cliutil.Usagef("bench: --window must be 1..%d", benchMaxWindow)
	case cfg.duration <= 0:
		return cfg, cliutil.Usagef("bench: --duration must be positive")
	case c.NArg() > 0:
		return cfg, cliutil.Usagef("bench takes no arguments, got %q", c.Args().Slice())
	}
	return cfg, nil
}

func bench(c *cli.Context) error {
	cfg, err := benchFlags(c)
	if err != nil {
		return err
	}
	cl, err := dial(c)
	if err != nil {
		return err
	}
	defer leave(cl, cfg.group)
	if limit := cl.Info().MaxMessage; cfg.size > limit {
		return cliutil.Usagef("bench: --size %d is above the daemon's largest message (%d bytes)", cfg.size, limit)
	}
	ctx, cancel := context.WithTimeout(c.Context, dialTimeout+cfg.duration+benchDrain)
	defer cancel()
	r := &benchRun{cfg: cfg, cl: cl, stats: newBenchStats(cl.Info())}
	if err := r.join(ctx); err != nil {
		return err
	}
	runErr := r.run(ctx)
	res := r.result()
	if err := res.print(c.App.Writer, cfg, c.Bool("json")); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	return res.verdict()
}

// benchRun is one bench: a sender goroutine, and the calling goroutine receiving.
type benchRun struct {
	cfg   benchConfig
	cl    *client.Client
	start time.Time
	sent  int         // set once the sender is done
	stats *benchStats // owned by the receiving goroutine
}

// join joins the group and waits for the view that shows this client in it, so that the
// clock starts with a member that receives.
func (r *benchRun) join(ctx context.Context) error {
	if err := r.cl.Join(ctx, r.cfg.group); err != nil {
		return err
	}
	for {
		select {
		case ev, ok := <-r.cl.Events():
			if !ok {
				return fmt.Errorf("bench: connection lost: %w", r.cl.Err())
			}
			if v, isView := ev.(client.View); isView && r.stats.joinedIn(v) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for the join: %w", ctx.Err())
		}
	}
}

type sendResult struct {
	n   int
	err error
}

// run sends and receives until every own message has come back, or it fails.
func (r *benchRun) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	sent := make(chan sendResult, 1)
	r.start = time.Now()
	go func() { sent <- r.send(ctx) }()
	err := r.receive(ctx, sent)
	cancel()
	if r.sent < 0 { // the receiver gave up first: wait for the sender
		<-sent
	}
	return err
}

// send multicasts until the count or the duration is reached, keeping up to a window
// of messages written ahead of the daemon's answers, as a real sender would (one round
// trip to the daemon per message would measure the socket, not the ring). The daemon
// answers only as fast as the ring takes messages (backpressure), so the rate is the
// ring's.
func (r *benchRun) send(ctx context.Context) sendResult {
	buf := make([]byte, r.cfg.size)
	inflight := make([]*client.Pending, r.cfg.window) // a ring: answered, the oldest first
	answered, written := 0, 0
	wait := func() error {
		p := inflight[answered%r.cfg.window]
		if err := p.Wait(ctx); err != nil {
			return fmt.Errorf("message %d: %w", answered, err)
		}
		answered++
		return nil
	}
	for seq := range r.cfg.count {
		if time.Since(r.start) >= r.cfg.duration {
			break
		}
		if written-answered == r.cfg.window {
			if err := wait(); err != nil {
				return sendResult{n: answered, err: err}
			}
		}
		fillBench(buf, uint64(seq), time.Since(r.start))
		p, err := r.cl.MulticastAsync(ctx, r.cfg.group, buf, r.cfg.level)
		if err != nil {
			return sendResult{n: answered, err: fmt.Errorf("message %d: %w", seq, err)}
		}
		inflight[written%r.cfg.window] = p
		written++
	}
	for answered < written {
		if err := wait(); err != nil {
			return sendResult{n: answered, err: err}
		}
	}
	return sendResult{n: answered}
}

// receive checks deliveries until the sender is done and all it sent has come back.
func (r *benchRun) receive(ctx context.Context, sent <-chan sendResult) error {
	r.sent = -1
	var drained <-chan time.Time
	for r.sent < 0 || r.stats.own < r.sent {
		select {
		case ev, ok := <-r.cl.Events():
			if !ok {
				return fmt.Errorf("connection lost: %w", r.cl.Err())
			}
			if m, isMsg := ev.(client.Message); isMsg {
				r.stats.add(m, time.Since(r.start))
			}
		case res := <-sent:
			r.sent = res.n
			if res.err != nil {
				return res.err
			}
			t := time.NewTimer(benchDrain)
			defer t.Stop()
			drained = t.C
		case <-drained:
			return fmt.Errorf("%d of %d own messages delivered within %s of the last send", r.stats.own, r.sent, benchDrain)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// fillBench writes a bench message: magic, seq, send time, then a pattern of seq.
func fillBench(b []byte, seq uint64, at time.Duration) {
	copy(b, benchMagic)
	binary.BigEndian.PutUint64(b[4:], seq)
	binary.BigEndian.PutUint64(b[12:], uint64(at))
	for i := benchHeader; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
}

// parseBench reads a bench message; ok is false for other traffic.
func parseBench(b []byte) (seq uint64, at time.Duration, ok bool) {
	if len(b) < benchHeader || !bytes.Equal(b[:4], benchMagic) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[4:]), time.Duration(binary.BigEndian.Uint64(b[12:])), true
}

// intact reports whether the pattern after the header is the one fillBench writes.
func intact(b []byte, seq uint64) bool {
	for i := benchHeader; i < len(b); i++ {
		if b[i] != byte(seq)+byte(i) {
			return false
		}
	}
	return true
}

// senderKey names a sender: its node and its session there.
type senderKey struct {
	node    client.NodeID
	session uint32
}

// benchStats checks and counts deliveries.
type benchStats struct {
	self    senderKey
	next    map[senderKey]uint64 // each sender's next sequence number
	own     int
	lat     []time.Duration // own messages' send-to-delivery times
	last    time.Duration   // when the last own message came, since the start
	others  int
	foreign int // messages that are not bench messages
	errs    int
	first   string // the first error
}

func newBenchStats(info client.Info) *benchStats {
	return &benchStats{self: senderKey{info.NodeID, info.Session}, next: map[senderKey]uint64{}}
}

func (s *benchStats) joinedIn(v client.View) bool {
	for _, ch := range v.Joined {
		if (senderKey{ch.Member.Node, ch.Member.Session}) == s.self {
			return true
		}
	}
	return false
}

// add checks one delivery: a bench message, in its sender's order, intact.
func (s *benchStats) add(m client.Message, now time.Duration) {
	from := senderKey{m.Sender.Node, m.Sender.Session}
	seq, at, ok := parseBench(m.Data)
	if !ok {
		if from == s.self {
			s.fail("own message of %d bytes is not a bench message", len(m.Data))
		}
		s.foreign++
		return
	}
	if want, seen := s.next[from]; (seen || from == s.self) && seq != want {
		s.fail("from %d/%d: message %d where %d was due", m.Sender.Node, m.Sender.PID, seq, want)
	}
	s.next[from] = seq + 1
	if !intact(m.Data, seq) {
		s.fail("from %d/%d: message %d is corrupted", m.Sender.Node, m.Sender.PID, seq)
	}
	if from != s.self {
		s.others++
		return
	}
	s.own++
	s.lat = append(s.lat, now-at)
	s.last = now
}

func (s *benchStats) fail(format string, args ...any) {
	if s.errs == 0 {
		s.first = fmt.Sprintf(format, args...)
	}
	s.errs++
}

// benchResult is what a bench prints; with --json, these keys.
type benchResult struct {
	Sent         int     `json:"sent"`
	Delivered    int     `json:"delivered"`
	Size         int     `json:"size"`
	Seconds      float64 `json:"seconds"`
	MsgsPerSec   float64 `json:"msgs_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	P50ms        float64 `json:"latency_p50_ms"`
	P99ms        float64 `json:"latency_p99_ms"`
	MaxMs        float64 `json:"latency_max_ms"`
	Others       int     `json:"other_messages"`
	OtherSenders int     `json:"other_senders"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
}

func (r *benchRun) result() benchResult {
	s := r.stats
	elapsed := s.last
	if s.own == 0 {
		elapsed = time.Since(r.start)
	}
	res := benchResult{Sent: max(r.sent, 0), Delivered: s.own, Size: r.cfg.size, Seconds: elapsed.Seconds(),
		Others: s.others, OtherSenders: max(len(s.next)-1, 0), Errors: s.errs, FirstError: s.first}
	if s.own == 0 {
		res.OtherSenders = len(s.next)
	}
	if elapsed > 0 {
		res.MsgsPerSec = float64(s.own) / elapsed.Seconds()
		res.MBPerSec = res.MsgsPerSec * float64(r.cfg.size) / 1e6
	}
	sorted := sortedDurations(s.lat)
	res.P50ms, res.P99ms = ms(percentile(sorted, 50)), ms(percentile(sorted, 99))
	if len(sorted) > 0 {
		res.MaxMs = ms(sorted[len(sorted)-1])
	}
	return res
}

func (res benchResult) print(w io.Writer, cfg benchConfig, asJSON bool) error {
	if asJSON {
		return writeJSON(w, res)
	}
	return table(w, func(w io.Writer) {
		fmt.Fprintf(w, "sent\t%d messages of %d bytes (%s) to group %q\n", res.Sent, res.Size, cfg.level, cfg.group)
		fmt.Fprintf(w, "delivered\t%d own in %.3fs; %d from %d other senders\n", res.Delivered, res.Seconds, res.Others, res.OtherSenders)
		fmt.Fprintf(w, "throughput\t%.0f msg/s, %.2f MB/s\n", res.MsgsPerSec, res.MBPerSec)
		fmt.Fprintf(w, "latency\tp50 %.2fms, p99 %.2fms, max %.2fms\n", res.P50ms, res.P99ms, res.MaxMs)
		if res.Errors == 0 {
			fmt.Fprintf(w, "order, content\tok\n")
		} else {
			fmt.Fprintf(w, "order, content\t%d errors; first: %s\n", res.Errors, res.FirstError)
		}
	})
}

// verdict fails a run that lost, reordered or corrupted a message.
func (res benchResult) verdict() error {
	if res.Errors > 0 {
		return fmt.Errorf("bench: %d order or content errors; the first: %s", res.Errors, res.FirstError)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
