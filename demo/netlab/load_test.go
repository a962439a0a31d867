//go:build linux

package netlab_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/totem/client"
)

const (
	// group is the group every session joins, sends to and listens on.
	group = "faults"
	// sendInterval paces each sender: about 300 messages/s per node, enough to keep
	// every token visit busy on a 2-CPU host without starving the daemons.
	sendInterval = 3 * time.Millisecond
	// maxPerSession bounds what one session sends, whatever the test's length.
	maxPerSession = 200_000
	// quiesceTimeout bounds the wait for the messages of a steady phase.
	quiesceTimeout = 30 * time.Second
)

// load is one client per node, each sending numbered messages (every third safe) and
// logging everything it receives. A session that dies (its daemon killed) stays in the
// logs; reconnect starts the node's next session.
type load struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions []*session
}

// session is one connection: its sender's accepted messages and its delivery log.
type session struct {
	name string // "n<node>.<generation>", also the prefix of its messages
	cl   *client.Client

	mu       sync.Mutex
	accepted []string // in the order the daemon accepted them
	safe     int
	log      []entry
	got      map[string]bool
	ended    bool
}

// entry is one delivery: a message or a view.
type entry struct {
	view    bool
	members []string // view: its members ("node.session"), sorted
	joined  []string // view: who it says joined, and left
	left    []string
	// nodeDown: a view that only removes the members of failed or departed nodes, the
	// group's transitional view.
	nodeDown bool
	data     string // message
	sender   string // message: the sending session's name (from the data)
}

func startLoad(t *testing.T, r *localring.Ring) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{ctx: ctx, cancel: cancel}
	t.Cleanup(l.stop)
	for _, n := range r.Nodes {
		l.connect(t, n, 1)
	}
	return l
}

// reconnect starts n's next session (after its daemon restarted).
func (l *load) reconnect(t *testing.T, n *localring.Node) {
	t.Helper()
	gen := 1
	l.mu.Lock()
	for _, s := range l.sessions {
		var node, g int
		fmt.Sscanf(s.name, "n%d.%d", &node, &g)
		if node == n.ID && g >= gen {
			gen = g + 1
		}
	}
	l.mu.Unlock()
	l.connect(t, n, gen)
}

func (l *load) connect(t *testing.T, n *localring.Node, gen int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, n.Socket, client.WithName("faults"), client.WithEventBuffer(1<<16))
	if err != nil {
		t.Fatalf("node %d: %v", n.ID, err)
	}
	s := &session{name: fmt.Sprintf("n%d.%d", n.ID, gen), cl: cl, got: map[string]bool{}}
	l.wg.Go(func() { s.receive() })
	if err := cl.Join(ctx, group); err != nil {
		t.Fatalf("node %d: join: %v", n.ID, err)
	}
	// Send only once this session is in the group, so that it receives its own.
	for !s.seesItself() {
		select {
		case <-ctx.Done():
			t.Fatalf("node %d: no view with itself: %v", n.ID, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	l.mu.Lock()
	l.sessions = append(l.sessions, s)
	l.mu.Unlock()
	l.wg.Go(func() { s.send(l.ctx) })
}

func (s *session) seesItself() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.log {
		if e.view {
			return true
		}
	}
	return false
}

// send multicasts until ctx ends or the connection does. A message whose call fails
// (a timeout while the ring re-forms) may or may not have been sent: it is not
// counted as accepted, and the next gets the next number, so that the order checks
// still hold.
func (s *session) send(ctx context.Context) {
	tick := time.NewTicker(sendInterval)
	defer tick.Stop()
	for k := range maxPerSession {
		select {
		case <-ctx.Done():
			return
		case <-s.cl.Done():
			return
		case <-tick.C:
		}
		data := fmt.Sprintf("%s#%d", s.name, k)
		level := client.Agreed
		if k%3 == 0 {
			level = client.Safe
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.cl.Multicast(cctx, group, []byte(data), level)
		cancel()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.accepted = append(s.accepted, data)
		if level == client.Safe {
			s.safe++
		}
		s.mu.Unlock()
	}
}

func (s *session) receive() {
	for ev := range s.cl.Events() {
		var e entry
		switch ev := ev.(type) {
		case client.View:
			if ev.Group != group {
				continue
			}
			e = entry{view: true, members: memberNames(ev.Members), joined: changeNames(ev.Joined), left: changeNames(ev.Left),
				nodeDown: len(ev.Joined) == 0 && len(ev.Left) > 0 && !slices.ContainsFunc(ev.Left, func(c client.Change) bool { return c.Reason != client.ReasonNodeDown })}
		case client.Message:
			if ev.Group != group {
				continue
			}
			e = entry{data: string(ev.Data), sender: senderOf(string(ev.Data))}
		default:
			continue
		}
		s.mu.Lock()
		s.log = append(s.log, e)
		if !e.view {
			s.got[e.data] = true
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

// mark is where a steady phase starts: how many messages each session had accepted.
type mark map[*session]int

func (l *load) mark() mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := mark{}
	for _, s := range l.sessions {
		s.mu.Lock()
		m[s] = len(s.accepted)
		s.mu.Unlock()
	}
	return m
}

// quiesce waits until every message accepted between m and now reached every session
// that was connected at m and still is: in a steady phase nothing may be lost. The
// load goes on meanwhile; what it sends after now is not waited for (with some
// latency, some message is always in flight).
func (l *load) quiesce(t *testing.T, m mark) {
	t.Helper()
	end := l.mark()
	deadline := time.Now().Add(quiesceTimeout)
	for {
		missing, example := l.missing(m, end)
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d accepted messages of a steady phase never delivered everywhere within %v, e.g. %s",
				missing, quiesceTimeout, example)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missing counts the (message, session) pairs still undelivered of the messages
// accepted between from and to.
func (l *load) missing(from, to mark) (int, string) {
	var want []string
	var live []*session
	for s, start := range from {
		s.mu.Lock()
		want = append(want, s.accepted[start:to[s]]...)
		if !s.ended {
			live = append(live, s)
		}
		s.mu.Unlock()
	}
	n, example := 0, ""
	for _, s := range live {
		s.mu.Lock()
		for _, d := range want {
			if !s.got[d] {
				n++
				if example == "" {
					example = fmt.Sprintf("%s not delivered to %s", d, s.name)
				}
			}
		}
		s.mu.Unlock()
	}
	return n, example
}

// stop ends the senders and the connections.
func (l *load) stop() {
	l.cancel()
	l.mu.Lock()
	for _, s := range l.sessions {
		s.cl.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// logs returns every session's delivery log.
func (l *load) logs() []sessionLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sessionLog
	for _, s := range l.sessions {
		s.mu.Lock()
		out = append(out, sessionLog{name: s.name, entries: append([]entry(nil), s.log...)})
		s.mu.Unlock()
	}
	return out
}

type loadStats struct{ accepted, safe, delivered, views, sessions int }

func (l *load) stats() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := loadStats{sessions: len(l.sessions)}
	for _, s := range l.sessions {
		s.mu.Lock()
		st.accepted += len(s.accepted)
		st.safe += s.safe
		for _, e := range s.log {
			if e.view {
				st.views++
			} else {
				st.delivered++
			}
		}
		s.mu.Unlock()
	}
	return st
}

func memberName(m client.Member) string { return fmt.Sprintf("%d.%d", m.Node, m.Session) }

func memberNames(ms []client.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, memberName(m))
	}
	slices.Sort(out)
	return out
}

func changeNames(cs []client.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, memberName(c.Member))
	}
	slices.Sort(out)
	return out
}
