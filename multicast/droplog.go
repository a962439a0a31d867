package multicast

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// dropLogInterval is how often at most the transport logs one kind of rejected datagram:
// the first at once, then a summary per interval while they keep coming, so a flood
// costs a few lines, not one per datagram.
const dropLogInterval = 10 * time.Second

// dropLogMaxSources bounds the sources one summary names (the busiest first) and the
// sources counted per interval; the rest are counted as "others".
const dropLogMaxSources = 8

// dropLog reports datagrams rejected for one reason: which addresses sent them and how
// many. It is what tells an operator that two rings share a network but cannot read
// each other (another key, another cluster name), or that someone sends garbage.
type dropLog struct {
	log  *slog.Logger
	msg  string // the log line
	hint string // what it probably means

	mu      sync.Mutex
	last    time.Time                   // when the previous line was written (zero: never)
	sources map[netip.Addr]uint64       // this interval's counts by source host
	others  uint64                      // this interval's datagrams from sources beyond the bound
	now     func() time.Time            // the clock (tests replace it)
	flushed func(map[netip.Addr]uint64) // tests watch what a line carried
}

func newDropLog(log *slog.Logger, msg, hint string) *dropLog {
	return &dropLog{log: log, msg: msg, hint: hint, sources: map[netip.Addr]uint64{}, now: time.Now}
}

// add counts one rejected datagram from src and writes a line when one is due.
func (d *dropLog) add(src netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := src.Addr()
	if _, seen := d.sources[a]; seen || len(d.sources) < dropLogMaxSources {
		d.sources[a]++
	} else {
		d.others++
	}
	now := d.now()
	if !d.last.IsZero() && now.Sub(d.last) < dropLogInterval {
		return
	}
	d.write(now)
}

// write logs this interval's counts and starts the next interval.
func (d *dropLog) write(now time.Time) {
	addrs := slices.SortedFunc(maps.Keys(d.sources), func(a, b netip.Addr) int {
		return cmp.Or(cmp.Compare(d.sources[b], d.sources[a]), a.Compare(b))
	})
	var from strings.Builder
	total := d.others
	for i, a := range addrs {
		if i > 0 {
			from.WriteString(", ")
		}
		fmt.Fprintf(&from, "%s×%d", a, d.sources[a])
		total += d.sources[a]
	}
	if d.others > 0 {
		fmt.Fprintf(&from, ", others×%d", d.others)
	}
	since := "since start"
	if !d.last.IsZero() {
		since = "in the last " + now.Sub(d.last).Round(time.Second).String()
	}
	d.log.Warn(d.msg, "datagrams", total, "from", from.String(), "period", since, "hint", d.hint)
	if d.flushed != nil {
		d.flushed(maps.Clone(d.sources))
	}
	clear(d.sources)
	d.others, d.last = 0, now
}

// dupIDLog reports two live nodes sending with one node id, at most once per
// dropLogInterval per id, with both addresses and how many datagrams were dropped.
type dupIDLog struct {
	log *slog.Logger
	mu  sync.Mutex
	ids map[uint32]*dupIDEntry
}

type dupIDEntry struct {
	last    time.Time
	dropped uint64
}

func newDupIDLog(log *slog.Logger) *dupIDLog {
	return &dupIDLog{log: log, ids: map[uint32]*dupIDEntry{}}
}

func (d *dupIDLog) add(id wire.NodeID, live, dropped netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.ids[uint32(id)]
	if e == nil {
		if len(d.ids) >= dropLogMaxSources {
			return
		}
		e = &dupIDEntry{}
		d.ids[uint32(id)] = e
	}
	e.dropped++
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < dropLogInterval {
		return
	}
	d.log.Error("udp: two nodes send with one node id; every node needs its own --node-id",
		"node", id, "accepted_from", live, "dropped_from", dropped, "dropped", e.dropped)
	e.last, e.dropped = now, 0
}
