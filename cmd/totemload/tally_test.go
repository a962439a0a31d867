package main

import (
	"bytes"
	"strings"
	"testing"
)

// msg builds a message of len bytes whose header is h.
func msg(h header, n int) []byte {
	b := make([]byte, n)
	h.put(b)
	return b
}

func data(run uint32, sender uint16, seq uint64, size int) []byte {
	return msg(header{magic: loadMagic, runID: run, kind: kindData, sender: sender, size: uint32(size), seq: seq}, size)
}

func end(run uint32, sender uint16, count uint64) []byte {
	return msg(header{magic: loadMagic, runID: run, kind: kindEnd, sender: sender, size: hdrLen, seq: count}, hdrLen)
}

func testTally(senders int, lat bool, count uint64, log *bytes.Buffer) *tally {
	cfg := config{runID: 7, senders: senders, lat: lat, count: count}
	if log == nil {
		return newTally(&cfg, nil)
	}
	return newTally(&cfg, log)
}

// TestTallyComplete: two senders, interleaved, each in order, then their ENDs.
func TestTallyComplete(t *testing.T) {
	var log bytes.Buffer
	tl := testTally(2, false, 0, &log)
	seq := []struct {
		node uint32
		msg  []byte
	}{
		{11, data(7, 1, 0, 64)}, {12, data(7, 2, 0, 64)}, {11, data(7, 1, 1, 64)},
		{11, end(7, 1, 2)}, {12, end(7, 2, 1)},
	}
	d := uint64(fnvOffset)
	for i, s := range seq {
		h, _ := parseHeader(s.msg)
		d = digestRecord(d, s.node, h.sender, h.kind, h.seq)
		if tl.done() {
			t.Fatalf("done before message %d", i)
		}
		tl.deliver(s.node, s.msg, uint64(100+i))
	}
	if !tl.done() || !tl.complete() {
		t.Fatalf("not complete: %+v", tl)
	}
	if tl.delivered != 3 || tl.expected() != 3 || tl.bytes != 192 || tl.orderErrs != 0 || tl.sizeErrs != 0 || tl.foreign != 0 {
		t.Errorf("counts: %+v", tl)
	}
	if tl.tFirst != 100 || tl.tLast != 102 || tl.tDone != 104 {
		t.Errorf("times first %d last %d done %d, want 100 102 104", tl.tFirst, tl.tLast, tl.tDone)
	}
	if tl.digest != d {
		t.Errorf("digest %016x, want %016x", tl.digest, d)
	}
	if want := "11 1 1 0\n12 2 1 0\n11 1 1 1\n11 1 2 2\n12 2 2 1\n"; log.String() != want {
		t.Errorf("log %q, want %q", log.String(), want)
	}
}

func TestTallyErrors(t *testing.T) {
	tests := []struct {
		name                 string
		msgs                 [][]byte
		order, size, foreign uint64
		complete             bool
	}{
		{"gap", [][]byte{data(7, 1, 0, 40), data(7, 1, 2, 40), end(7, 1, 3)}, 1, 0, 0, false},
		{"reordered", [][]byte{data(7, 1, 1, 40), data(7, 1, 0, 40), end(7, 1, 2)}, 3, 0, 0, false},
		{"data after END", [][]byte{end(7, 1, 0), data(7, 1, 0, 40)}, 1, 0, 0, false},
		{"END count short", [][]byte{data(7, 1, 0, 40), data(7, 1, 1, 40), end(7, 1, 1)}, 1, 0, 0, false},
		{"END twice", [][]byte{data(7, 1, 0, 40), end(7, 1, 1), end(7, 1, 1)}, 1, 0, 0, false},
		{"size", [][]byte{msg(header{magic: loadMagic, runID: 7, kind: kindData, sender: 1, size: 100}, 64), end(7, 1, 1)}, 0, 1, 0, false},
		{"no END", [][]byte{data(7, 1, 0, 40)}, 0, 0, 0, false},
		{"foreign", [][]byte{
			[]byte("short"),
			msg(header{magic: 1, runID: 7, kind: kindData, sender: 1}, 40),
			data(8, 1, 0, 40), // another run
			data(7, 0, 0, 40), // sender 0
			data(7, 2, 0, 40), // beyond -k
			end(7, 1, 0),
		}, 0, 0, 5, true},
		{"unknown kind", [][]byte{msg(header{magic: loadMagic, runID: 7, kind: 9, sender: 1}, 40), end(7, 1, 0)}, 0, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := testTally(1, false, 0, nil)
			for _, m := range tt.msgs {
				tl.deliver(1, m, 1)
			}
			if tl.orderErrs != tt.order || tl.sizeErrs != tt.size || tl.foreign != tt.foreign || tl.complete() != tt.complete {
				t.Errorf("order %d size %d foreign %d complete %v; want %d %d %d %v",
					tl.orderErrs, tl.sizeErrs, tl.foreign, tl.complete(), tt.order, tt.size, tt.foreign, tt.complete)
			}
		})
	}
}

// TestTallyDigestScope: messages of other runs or programs are not hashed, a message of
// the run with an unknown kind is (as cpgload does).
func TestTallyDigestScope(t *testing.T) {
	tl := testTally(1, false, 0, nil)
	tl.deliver(1, []byte("not a load message at all, but long enough"), 1)
	tl.deliver(1, data(8, 1, 0, 40), 1)
	if tl.digest != fnvOffset {
		t.Errorf("foreign messages changed the digest")
	}
	tl.deliver(1, msg(header{magic: loadMagic, runID: 7, kind: 9, sender: 1, seq: 5}, 40), 1)
	if want := digestRecord(fnvOffset, 1, 1, 9, 5); tl.digest != want {
		t.Errorf("digest %016x, want %016x", tl.digest, want)
	}
}

func TestTallyLatency(t *testing.T) {
	tl := testTally(1, true, 2, nil) // room for 2 samples
	for i, ts := range []uint64{1000, 5000, 1000} {
		m := data(7, 1, uint64(i), 40)
		h, _ := parseHeader(m)
		h.ts = ts
		h.put(m)
		tl.deliver(1, m, 3000)
	}
	if len(tl.latNs) != 2 || tl.latNs[0] != 2000 || tl.latNs[1] != 0 {
		t.Errorf("samples %v, want [2000 0] (a time stamp in the future counts 0; at most -c x -k)", tl.latNs)
	}
	if tl := testTally(1, false, 2, nil); tl.latCap != 0 {
		t.Errorf("tput keeps latency samples")
	}
}

func TestTallyMemberLeft(t *testing.T) {
	tl := testTally(1, false, 0, nil)
	tl.view(2, 1) // before the start: an earlier run's instance leaving
	if tl.memberLeft {
		t.Fatal("a leave before the start counts")
	}
	tl.started = true
	tl.view(3, 0)
	if tl.memberLeft || tl.members != 3 {
		t.Fatalf("a join counts as a leave, or members %d", tl.members)
	}
	tl.deliver(1, end(7, 1, 0), 1)
	tl.view(2, 1) // after every END: instances finishing
	if tl.memberLeft {
		t.Fatal("a leave after every END counts")
	}
	tl = testTally(1, false, 0, nil)
	tl.started = true
	tl.view(2, 1)
	if !tl.memberLeft {
		t.Fatal("a leave during the run does not count")
	}
}

func TestPercentile(t *testing.T) {
	var hundred []uint64
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, uint64(i)*1000)
	}
	l := latencyOf(hundred)
	if l != (latency{n: 100, mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100}) {
		t.Errorf("1..100 µs: %+v", l)
	}
	if l := latencyOf(nil); l != (latency{}) {
		t.Errorf("no samples: %+v", l)
	}
	if l := latencyOf([]uint64{1500}); l != (latency{n: 1, mean: 1.5, p50: 1.5, p90: 1.5, p99: 1.5, max: 1.5}) {
		t.Errorf("one sample: %+v", l)
	}
	three := []uint64{1000, 2000, 3000}
	for _, tt := range []struct {
		q    float64
		want float64
	}{{0.5, 2}, {0.9, 3}, {0.99, 3}, {0.34, 2}, {0.33, 1}, {0, 1}, {1, 3}} {
		if got := percentile(three, tt.q); got != tt.want {
			t.Errorf("percentile(1,2,3 µs; %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	// The rank is floor(q*n + 0.999999): a product less than 1e-6 above an integer
	// does not round up.
	ten := []uint64{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000}
	if got := percentile(ten, 0.9); got != 9 {
		t.Errorf("p90 of 1..10 µs = %v, want 9", got)
	}
	if got := percentile(ten, 0.50000001); got != 5 {
		t.Errorf("p50.000001 of 1..10 µs = %v, want 5 (cpgload's rounding)", got)
	}
}

func TestFormatResult(t *testing.T) {
	cfg := config{lat: true, idx: 2, nodes: 3, senders: 3, size: 1024, rate: 333.333, label: "totemd", runID: 9, count: 10}
	tl := newTally(&cfg, nil)
	tl.delivered, tl.bytes, tl.foreign, tl.orderErrs, tl.sizeErrs = 4, 4096, 1, 2, 3
	tl.t0, tl.tFirst, tl.tLast = 1_000_000_000, 1_100_000_000, 3_000_000_000
	tl.snd[1].endCount, tl.snd[3].endCount = 2, 3
	tl.memberLeft = true
	tl.digest = 0xab
	tl.latNs = []uint64{3000, 1000, 2000, 4000}
	got := formatResult(&cfg, tl, result{nodeID: 5, complete: false, sent: 10, tryAgain: 6, why: "hard_timeout"})
	want := "RESULT sys=totemd mode=lat node=2 nodeid=5 n=3 senders=3 size=1024 run=9 sent=10 delivered=4 " +
		"expected=5 bytes=4096 t0_ns=1000000000 tfirst_ns=1100000000 tlast_ns=3000000000 elapsed_s=2.000000 " +
		"msgs_per_s=2.0 mb_per_s=0.002 try_again=6 order_errors=2 size_errors=3 foreign=1 member_left=1 " +
		"complete=0 digest=00000000000000ab rate=333.3 lat_n=4 lat_mean_us=2.5 lat_p50_us=2.0 lat_p90_us=4.0 " +
		"lat_p99_us=4.0 lat_max_us=4.0 why=hard_timeout\n"
	if got != want {
		t.Errorf("RESULT line\n got %q\nwant %q", got, want)
	}

	cfg = config{idx: 1, nodes: 1, senders: 1, size: 32, label: "x", runID: 1}
	tl = newTally(&cfg, nil)
	got = formatResult(&cfg, tl, result{complete: true})
	if !strings.HasSuffix(got, " member_left=0 complete=1 digest=cbf29ce484222325\n") || strings.Contains(got, "lat_") ||
		!strings.Contains(got, " elapsed_s=0.000000 msgs_per_s=0.0 mb_per_s=0.000 ") {
		t.Errorf("tput RESULT line %q", got)
	}
}
