package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/totem-gcs/totem/totem/client"
)

// room is the chat protocol of one member as a state machine: the room's views and
// messages go in (in the group's agreed order), lines to print and messages to multicast
// come out (out, sends). It does no I/O and keeps no time; the program around it reads
// the client's events, prints, sends, and calls claim when the sync timeout expires.
// The package documentation describes the protocol.
type room struct {
	self    key
	maxHist int // --history: how many lines of the screen a newcomer is given
	maxMsg  int // the largest message the daemon accepts

	joined bool // the member's own join view has been delivered
	left   bool // its own leave view has been delivered: nothing more comes
	synced bool // it has its history and prints live

	peers map[key]*peer // the current members, the member itself included
	order []key         // the current members, sorted by (node, session)

	// Not synced: every event line since the join view, not printed yet, and the
	// member's own delivered wants, by nonce, with their cut (an index into pending).
	pending []string
	myWants map[uint64]int
	nonce   uint64 // the last want sent

	// Synced: the screen's last lines (log[0] is line number base); enough of them to
	// answer every outstanding want.
	log  []string
	base int

	// viewStart is where the notices of the latest view begin: an index into pending
	// while not synced, a line number of the screen once synced. A want's cut is the
	// viewStart at its delivery.
	viewStart int

	out       []string  // lines to print, in order
	sends     []message // room messages to multicast, in order
	warnings  []string  // for standard error
	malformed int       // malformed messages ignored
}

// key names a member: (node, session) is unique among a group's members.
type key struct {
	Node    client.NodeID
	Session uint32
}

type nodeID = client.NodeID

func keyOf(m client.Member) key { return key{Node: m.Node, Session: m.Session} }

func (k key) compare(o key) int {
	if c := cmp.Compare(k.Node, o.Node); c != 0 {
		return c
	}
	return cmp.Compare(k.Session, o.Session)
}

// peer is what a member knows of another member (or of itself).
type peer struct {
	m client.Member

	// m0 is the set of members that were in the group before it joined and are still
	// there; nil when unknown (it was there before this member, or came with a merge).
	// While m0 is known and not empty, someone who might hold the history remains.
	m0 map[key]struct{}

	// eligible: it is known to be a chat member that holds the history, so it may
	// answer wants. Only events of the agreed order make a member eligible, so every
	// member's eligible set is a subset of the true one, and equal to it but for merges
	// and a few gaps noted in the package documentation.
	eligible bool

	want *want // its latest want not answered yet, if any

	// answered: this member has sent it an answer. That answer will be ordered (unless
	// this member leaves), and any answer to any of its wants does, so its later wants
	// need none from here.
	answered bool
}

// want is a delivered want that has not been answered yet.
type want struct {
	nonce uint64
	max   int // lines asked for
	cut   int // the screen position of its cut in this member's numbering (see viewStart); -1 if unknown here
}

func newRoom(self key, maxHist, maxMsg int) *room {
	return &room{self: self, maxHist: maxHist, maxMsg: maxMsg, peers: map[key]*peer{}, myWants: map[uint64]int{}}
}

// handle takes the room's next event.
func (r *room) handle(ev client.Event) {
	switch ev := ev.(type) {
	case client.View:
		r.onView(ev)
	case client.Message:
		r.onMessage(ev)
	}
}

// awaiting reports whether the member waits for the history after a want of its own was
// delivered: the sync timeout runs meanwhile.
func (r *room) awaiting() bool {
	return r.joined && !r.left && !r.synced && len(r.myWants) > 0
}

// claim returns the claim to multicast once the sync timeout has expired (ok false if
// the member no longer waits).
func (r *room) claim() (message, bool) {
	if !r.awaiting() {
		return message{}, false
	}
	return message{Kind: kindClaim, Claim: claimMsg{Nonce: r.nonce}}, true
}

// members returns the current view's members in order.
func (r *room) members() []client.Member {
	ms := make([]client.Member, 0, len(r.order))
	for _, k := range r.order {
		ms = append(ms, r.peers[k].m)
	}
	return ms
}

// take returns and clears what the room has to print and send.
func (r *room) take() (out []string, sends []message, warnings []string) {
	out, sends, warnings = r.out, r.sends, r.warnings
	r.out, r.sends, r.warnings = nil, nil, nil
	return out, sends, warnings
}

func (r *room) onView(v client.View) {
	if r.left {
		return
	}
	first := !r.joined
	if first {
		// The member's own join view is its first event of the group.
		if !slices.ContainsFunc(v.Members, func(m client.Member) bool { return keyOf(m) == r.self }) {
			return
		}
		r.joined = true
	}
	lines := viewLines(v)
	present := make(map[key]bool, len(v.Members))
	for _, m := range v.Members {
		present[keyOf(m)] = true
	}
	if !present[r.self] { // its own leave: the last event
		r.viewStart = r.pos()
		r.emit(lines...)
		r.left = true
		return
	}
	var gone []key
	for k := range r.peers {
		if !present[k] {
			gone = append(gone, k)
			delete(r.peers, k)
		}
	}
	for _, k := range gone {
		for _, p := range r.peers {
			delete(p.m0, k)
		}
	}
	reason := map[key]client.Reason{}
	for _, c := range v.Joined {
		reason[keyOf(c.Member)] = c.Reason
	}
	// before: the members that were there before this view's joins. In one's own join
	// view, that is every member the view does not list as joining.
	before := map[key]struct{}{}
	for _, m := range v.Members {
		k := keyOf(m)
		if _, joining := reason[k]; r.peers[k] != nil || (first && !joining) {
			before[k] = struct{}{}
		}
	}
	for _, m := range v.Members {
		k := keyOf(m)
		if p := r.peers[k]; p != nil {
			p.m = m
			continue
		}
		p := &peer{m: m}
		if _, old := before[k]; !old && reason[k] != client.ReasonNodeUp {
			p.m0 = maps.Clone(before) // a member one saw join: one knows its elders
		}
		r.peers[k] = p
	}
	r.order = r.order[:0]
	for _, m := range v.Members {
		r.order = append(r.order, keyOf(m))
	}
	slices.SortFunc(r.order, key.compare)

	r.viewStart = r.pos()
	r.emit(lines...)
	r.checkAlone()
	if !r.synced {
		r.nonce++
		r.sends = append(r.sends, message{Kind: kindWant, Want: wantMsg{Nonce: r.nonce, Max: uint32(r.maxHist)}})
	}
	r.respond()
}

// checkAlone applies the rule for a room where no one can hold the history: a member
// with a delivered want none of whose elders (m0) is left is synced with an empty
// history. Every member that knows its m0 decides alike at the same point of the order.
func (r *room) checkAlone() {
	for _, k := range r.order {
		if p := r.peers[k]; p.want != nil && p.m0 != nil && len(p.m0) == 0 {
			r.syncEmpty(k)
		}
	}
}

// syncEmpty makes k synced without history (alone, or its claim).
func (r *room) syncEmpty(k key) {
	p := r.peers[k]
	p.eligible, p.want = true, nil
	if k == r.self && !r.synced {
		r.becomeSynced(nil, 0, nil)
	}
}

func (r *room) onMessage(m client.Message) {
	if !r.joined || r.left {
		return
	}
	msg, err := decode(m.Data)
	if err != nil {
		r.malformed++
		r.warnings = append(r.warnings, fmt.Sprintf("ignoring a message from %s (node %d, pid %d): %v", nick(m.Sender.Name), m.Sender.Node, m.Sender.PID, err))
		return
	}
	from := keyOf(m.Sender)
	switch msg.Kind {
	case kindText:
		r.emit(messageLine(m.Sender.Name, msg.Text))
	case kindWant:
		r.onWant(from, msg.Want)
	case kindHistory:
		r.onHistory(from, msg.History)
	case kindClaim:
		if p := r.peers[from]; p != nil && !p.eligible {
			r.syncEmpty(from)
		}
	}
	r.respond()
}

func (r *room) onWant(from key, w wantMsg) {
	p := r.peers[from]
	if p == nil || p.eligible { // it is synced already: a want sent before it knew
		return
	}
	cut := r.viewStart
	if from == r.self {
		r.myWants[w.Nonce] = cut
	}
	p.want = &want{nonce: w.Nonce, max: int(min(w.Max, maxHistoryLines)), cut: cut}
	if p.m0 != nil && len(p.m0) == 0 {
		r.syncEmpty(from)
	}
}

func (r *room) onHistory(from key, h historyMsg) {
	if s := r.peers[from]; s != nil {
		s.eligible = true // only a synced chat member answers
	}
	to := h.To.key()
	p := r.peers[to]
	if p == nil || p.eligible { // answered already, by another or by itself
		return
	}
	if to == r.self {
		cut, ok := r.myWants[h.Nonce]
		if !ok {
			return
		}
		r.becomeSynced(h.Lines, cut, h.Eligible)
	}
	p.eligible, p.want = true, nil
}

// becomeSynced prints the history and the lines since the cut, and goes live. Positions
// after the cut are renumbered from pending to the screen.
func (r *room) becomeSynced(hist []string, cut int, eligible []wireMember) {
	if len(hist) > r.maxHist {
		hist = hist[len(hist)-r.maxHist:]
	}
	hist = slices.Clone(hist)
	for i, l := range hist {
		hist[i] = oneLine(l)
	}
	r.out = append(r.out, fmt.Sprintf("--- history (%d messages) ---", len(hist)))
	r.out = append(r.out, hist...)
	r.out = append(r.out, "--- end of history ---")
	shift := len(hist) - cut
	r.log, r.base = append(hist, r.pending[cut:]...), 0
	r.out = append(r.out, r.pending[cut:]...)
	for _, p := range r.peers {
		if p.want == nil {
			continue
		}
		if p.want.cut >= cut {
			p.want.cut += shift
		} else {
			p.want.cut = -1
		}
	}
	r.viewStart += shift
	r.pending, r.myWants = nil, nil
	r.synced = true
	self := r.peers[r.self]
	self.eligible, self.want = true, nil
	for _, e := range eligible {
		if p := r.peers[e.key()]; p != nil {
			p.eligible = true
		}
	}
	r.trim()
}

// respond answers the outstanding wants if this member is the lowest eligible one.
func (r *room) respond() {
	if !r.synced || r.left {
		return
	}
	for _, k := range r.order {
		if r.peers[k].eligible {
			if k != r.self {
				return
			}
			break
		}
	}
	for _, k := range r.order {
		p := r.peers[k]
		if k == r.self || p.want == nil || p.answered {
			continue
		}
		lines, ok := r.snapshot(p.want.cut, min(p.want.max, r.maxHist))
		if !ok { // its cut is before this member's own: it asks again after the next view
			continue
		}
		r.sends = append(r.sends, message{Kind: kindHistory, History: r.fit(historyMsg{
			To: wireOf(k), Nonce: p.want.nonce, Lines: lines, Eligible: r.eligibleList(),
		})})
		p.answered = true
	}
}

func (r *room) eligibleList() []wireMember {
	var es []wireMember
	for _, k := range r.order {
		if r.peers[k].eligible {
			es = append(es, wireOf(k))
		}
	}
	return es
}

// fit drops the oldest lines of h until it fits in a message.
func (r *room) fit(h historyMsg) historyMsg {
	for len(h.Lines) > 0 && len(encodeHistory(h)) > r.maxMsg {
		// Estimate how many lines to drop, then check again.
		over, drop := len(encodeHistory(h))-r.maxMsg, 0
		for over > 0 && drop < len(h.Lines) {
			over -= len(h.Lines[drop]) + 1
			drop++
		}
		h.Lines = h.Lines[drop:]
	}
	return h
}

// snapshot returns the screen's last n lines before position cut.
func (r *room) snapshot(cut, n int) ([]string, bool) {
	if !r.synced || cut < r.base || cut > r.base+len(r.log) {
		return nil, false
	}
	from := max(r.base, cut-n)
	return slices.Clone(r.log[from-r.base : cut-r.base]), true
}

// pos is the end of the screen: the number of lines pending, or the screen's next line
// number.
func (r *room) pos() int {
	if r.synced {
		return r.base + len(r.log)
	}
	return len(r.pending)
}

// emit prints event lines, or keeps them while not synced.
func (r *room) emit(lines ...string) {
	if !r.synced {
		r.pending = append(r.pending, lines...)
		return
	}
	r.out = append(r.out, lines...)
	r.log = append(r.log, lines...)
	r.trim()
}

// trim forgets the lines no want can need: it keeps the maxHist lines before the latest
// view (the cut of any want still to come) and before every outstanding cut, and the
// lines since. It copies only when that drops at least half the log.
func (r *room) trim() {
	keep := r.viewStart - r.maxHist
	for _, p := range r.peers {
		if p.want != nil && p.want.cut >= 0 {
			keep = min(keep, p.want.cut-r.maxHist)
		}
	}
	if drop := keep - r.base; drop > 0 && drop >= len(r.log)/2 {
		r.log = slices.Clone(r.log[drop:])
		r.base += drop
	}
}

// viewLines are a view's notices: who left, then who joined, each by (node, session).
func viewLines(v client.View) []string {
	left, joined := slices.Clone(v.Left), slices.Clone(v.Joined)
	byMember := func(a, b client.Change) int { return keyOf(a.Member).compare(keyOf(b.Member)) }
	slices.SortStableFunc(left, byMember)
	slices.SortStableFunc(joined, byMember)
	var lines []string
	for _, c := range left {
		lines = append(lines, fmt.Sprintf("* %s left (%s)", nick(c.Member.Name), oneLine(string(c.Reason))))
	}
	for _, c := range joined {
		if c.Reason == client.ReasonJoin {
			lines = append(lines, fmt.Sprintf("* %s joined (node %d)", nick(c.Member.Name), c.Member.Node))
		} else {
			lines = append(lines, fmt.Sprintf("* %s joined (%s, node %d)", nick(c.Member.Name), oneLine(string(c.Reason)), c.Member.Node))
		}
	}
	return lines
}

func messageLine(name, text string) string { return "<" + nick(name) + "> " + oneLine(text) }

// nick shows a member's name on one line ("" quoted).
func nick(name string) string {
	if name == "" {
		return `""`
	}
	return oneLine(name)
}

// oneLine returns s as it is when it is printable UTF-8 (tabs allowed), else quoted Go
// style, so that every event stays one line and no one's text can pass for another's.
func oneLine(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(c rune) bool { return !strconv.IsPrint(c) && c != '\t' }) {
		return s
	}
	return strconv.Quote(s)
}
