package multicast

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDropLogWritesTheFirstAtOnceThenOneSummaryPerInterval(t *testing.T) {
	var out bytes.Buffer
	d := newDropLog(slog.New(slog.NewTextHandler(&out, nil)), "dropped", "why")
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	var lines []map[netip.Addr]uint64
	d.flushed = func(m map[netip.Addr]uint64) { lines = append(lines, m) }
	a := netip.MustParseAddrPort("10.0.0.3:5405")
	b := netip.MustParseAddrPort("10.0.0.4:7000")

	d.add(a)
	if len(lines) != 1 || lines[0][a.Addr()] != 1 {
		t.Fatalf("after the first drop: lines %v, want one line naming %v once", lines, a.Addr())
	}
	for range 99 {
		now = now.Add(10 * time.Millisecond)
		d.add(a)
		d.add(b)
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines within one interval, want still 1", len(lines))
	}
	now = now.Add(dropLogInterval)
	d.add(b)
	if len(lines) != 2 || lines[1][a.Addr()] != 99 || lines[1][b.Addr()] != 100 {
		t.Fatalf("summary %v, want %v×99 and %v×100", lines[len(lines)-1], a.Addr(), b.Addr())
	}
	text := out.String()
	for _, want := range []string{"dropped", "10.0.0.4×100, 10.0.0.3×99", "datagrams=199", "hint=why"} {
		if !strings.Contains(text, want) {
			t.Errorf("log %q lacks %q", text, want)
		}
	}
}

func TestDropLogBoundsTheSourcesItNames(t *testing.T) {
	var out bytes.Buffer
	d := newDropLog(slog.New(slog.NewTextHandler(&out, nil)), "dropped", "")
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	d.add(netip.MustParseAddrPort("10.0.1.1:1"))
	for i := range 1000 { // a flood from many forged sources
		d.add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 9))
	}
	if len(d.sources) > dropLogMaxSources {
		t.Fatalf("%d sources kept, bound %d", len(d.sources), dropLogMaxSources)
	}
	now = now.Add(dropLogInterval)
	d.add(netip.MustParseAddrPort("10.0.1.1:1"))
	if !strings.Contains(out.String(), "others×") || !strings.Contains(out.String(), "datagrams=1001") {
		t.Errorf("summary %q: want the overflow counted as others and all 1001 datagrams", out.String())
	}
}
