package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// senderState is what a node knows of one sender's messages.
type senderState struct {
	nextSeq   uint64 // the next data sequence number expected
	delivered uint64
	endCount  uint64 // from its END
	ended     bool
}

// tally checks and counts deliveries, as cpgload's on_deliver and on_confchg do. One
// goroutine owns it at a time.
type tally struct {
	runID   uint32
	senders int
	lat     bool
	latCap  int
	log     io.Writer // the delivery log, or nil

	members    int  // in the latest view
	started    bool // the group had formed (the barrier passed)
	memberLeft bool // a member left after the start, before every END was delivered
	snd        []senderState
	endsSeen   int
	delivered  uint64 // data messages
	bytes      uint64 // of data messages
	foreign    uint64
	orderErrs  uint64
	sizeErrs   uint64
	t0         uint64 // when the group formed
	tFirst     uint64 // first data delivery
	tLast      uint64 // last data delivery
	tDone      uint64 // the last END's delivery
	digest     uint64
	latNs      []uint64 // latency samples
	logLine    []byte
}

func newTally(cfg *config, log io.Writer) *tally {
	return &tally{
		runID: cfg.runID, senders: cfg.senders, lat: cfg.lat, latCap: cfg.latCap(), log: log,
		snd: make([]senderState, cfg.senders+1), digest: fnvOffset,
	}
}

// done reports whether every sender's END has been delivered.
func (t *tally) done() bool { return t.endsSeen == t.senders }

// deliver takes one message of the group, sent by node nodeID, delivered at now.
func (t *tally) deliver(nodeID uint32, msg []byte, now uint64) {
	h, ok := parseHeader(msg)
	if !ok || h.magic != loadMagic || h.runID != t.runID || h.sender < 1 || int(h.sender) > t.senders {
		t.foreign++
		return
	}
	t.digest = digestRecord(t.digest, nodeID, h.sender, h.kind, h.seq)
	if t.log != nil {
		b := strconv.AppendUint(t.logLine[:0], uint64(nodeID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(h.sender), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(h.kind), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, h.seq, 10)
		b = append(b, '\n')
		t.log.Write(b) // errors show when the log is flushed
		t.logLine = b
	}
	s := &t.snd[h.sender]
	switch h.kind {
	case kindData:
		if s.ended || h.seq != s.nextSeq {
			t.orderErrs++
		}
		s.nextSeq = h.seq + 1
		s.delivered++
		if uint64(len(msg)) != uint64(h.size) {
			t.sizeErrs++
		}
		t.delivered++
		t.bytes += uint64(len(msg))
		if t.tFirst == 0 {
			t.tFirst = now
		}
		t.tLast = now
		if t.lat && len(t.latNs) < t.latCap {
			t.latNs = append(t.latNs, now-min(h.ts, now))
		}
	case kindEnd:
		if s.ended || h.seq != s.nextSeq {
			t.orderErrs++
		}
		if !s.ended {
			s.ended = true
			s.endCount = h.seq
			t.endsSeen++
			if t.endsSeen == t.senders {
				t.tDone = now
			}
		}
	default:
		t.foreign++
	}
}

// view takes a view of the group.
func (t *tally) view(members, left int) {
	t.members = members
	// A member leaving before this node has delivered every sender's END is a failure
	// during the run; leaves after that are instances finishing.
	if t.started && left > 0 && t.endsSeen < t.senders {
		t.memberLeft = true
	}
}

// expected is the sum of the END counts delivered.
func (t *tally) expected() uint64 {
	var n uint64
	for _, s := range t.snd[1:] {
		n += s.endCount
	}
	return n
}

// complete reports whether the run is complete, given that it was not cut short: every
// END delivered, no order or size error, every announced message delivered.
func (t *tally) complete() bool {
	return t.done() && t.orderErrs == 0 && t.sizeErrs == 0 && t.expected() == t.delivered
}

// latency is the summary of latency samples, in microseconds.
type latency struct {
	n                        int
	mean, p50, p90, p99, max float64
}

// latencyOf sorts samples (ns) and summarizes them as cpgload does: the mean of the
// samples summed in ascending order, nearest-rank percentiles.
func latencyOf(samples []uint64) latency {
	slices.Sort(samples)
	l := latency{n: len(samples)}
	if l.n == 0 {
		return l
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	l.mean = sum / float64(l.n) / 1000
	l.p50, l.p90, l.p99 = percentile(samples, 0.50), percentile(samples, 0.90), percentile(samples, 0.99)
	l.max = float64(samples[l.n-1]) / 1000
	return l
}

// percentile is cpgload's pct_us: the sample of rank ceil(q*n) (to within 1e-6), in
// microseconds; 0 without samples.
func percentile(sorted []uint64, q float64) float64 {
	n := uint64(len(sorted))
	if n == 0 {
		return 0
	}
	// The conversion rounds the product on its own, so that it is never fused with
	// the addition: the rank is the same as C's.
	rank := uint64(float64(q*float64(n)) + 0.999999)
	rank = min(max(rank, 1), n)
	return float64(sorted[rank-1]) / 1000
}

// result is what the RESULT line reports besides the tally.
type result struct {
	nodeID   uint32
	complete bool
	sent     uint64
	tryAgain uint64
	why      string
}

// formatResult is the RESULT line, with cpgload's keys in cpgload's order. It sorts the
// latency samples.
func formatResult(cfg *config, t *tally, r result) string {
	el := 0.0
	if t.tLast > t.t0 {
		el = float64(t.tLast-t.t0) / 1e9
	}
	var msgs, mb float64
	if el > 0 {
		msgs, mb = float64(t.delivered)/el, float64(t.bytes)/el/1e6
	}
	b := fmt.Appendf(nil, "RESULT sys=%s mode=%s node=%d nodeid=%d n=%d senders=%d size=%d run=%d "+
		"sent=%d delivered=%d expected=%d bytes=%d "+
		"t0_ns=%d tfirst_ns=%d tlast_ns=%d elapsed_s=%.6f "+
		"msgs_per_s=%.1f mb_per_s=%.3f try_again=%d order_errors=%d "+
		"size_errors=%d foreign=%d member_left=%d complete=%d digest=%016x",
		cfg.label, cfg.mode(), cfg.idx, r.nodeID, cfg.nodes, cfg.senders, cfg.size, cfg.runID,
		r.sent, t.delivered, t.expected(), t.bytes,
		t.t0, t.tFirst, t.tLast, el,
		msgs, mb, r.tryAgain, t.orderErrs,
		t.sizeErrs, t.foreign, b2i(t.memberLeft), b2i(r.complete), t.digest)
	if cfg.lat {
		l := latencyOf(t.latNs)
		b = fmt.Appendf(b, " rate=%.1f lat_n=%d lat_mean_us=%.1f lat_p50_us=%.1f lat_p90_us=%.1f "+
			"lat_p99_us=%.1f lat_max_us=%.1f", cfg.rate, l.n, l.mean, l.p50, l.p90, l.p99, l.max)
	}
	if r.why != "" {
		b = fmt.Appendf(b, " why=%s", r.why)
	}
	return string(append(b, '\n'))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
