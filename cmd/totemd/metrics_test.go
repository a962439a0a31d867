package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/ring"
	"github.com/totem-gcs/totem/totem/client"
)

// wantFamilies are the metric families totemd --metrics must export, with their types.
var wantFamilies = map[string]dto.MetricType{
	"totem_state":                           dto.MetricType_GAUGE,
	"totem_ring_members":                    dto.MetricType_GAUGE,
	"totem_clients":                         dto.MetricType_GAUGE,
	"totem_groups":                          dto.MetricType_GAUGE,
	"totem_authenticated":                   dto.MetricType_GAUGE,
	"totem_queued_messages":                 dto.MetricType_GAUGE,
	"totem_pending_records":                 dto.MetricType_GAUGE,
	"totem_waiting_multicasts":              dto.MetricType_GAUGE,
	"totem_token_rotation_seconds":          dto.MetricType_HISTOGRAM,
	"totem_messages_delivered_total":        dto.MetricType_COUNTER,
	"totem_delivered_bytes_total":           dto.MetricType_COUNTER,
	"totem_messages_originated_total":       dto.MetricType_COUNTER,
	"totem_messages_retransmitted_total":    dto.MetricType_COUNTER,
	"totem_retransmit_requests_total":       dto.MetricType_COUNTER,
	"totem_messages_received_total":         dto.MetricType_COUNTER,
	"totem_messages_discarded_total":        dto.MetricType_COUNTER,
	"totem_tokens_received_total":           dto.MetricType_COUNTER,
	"totem_token_retransmits_total":         dto.MetricType_COUNTER,
	"totem_token_hold_cancel_retries_total": dto.MetricType_COUNTER,
	"totem_membership_transitions_total":    dto.MetricType_COUNTER,
	"totem_datagrams_sent_total":            dto.MetricType_COUNTER,
	"totem_datagrams_received_total":        dto.MetricType_COUNTER,
	"totem_send_errors_total":               dto.MetricType_COUNTER,
	"totem_datagrams_dropped_total":         dto.MetricType_COUNTER,
	"totem_auth_failures_total":             dto.MetricType_COUNTER,
	"totem_node_member":                     dto.MetricType_GAUGE,
	"totem_node_heard_age_seconds":          dto.MetricType_GAUGE,
	// The Go and process collectors.
	"go_goroutines":                 dto.MetricType_GAUGE,
	"process_resident_memory_bytes": dto.MetricType_GAUGE,
}

// A ring of two real daemons with --metrics 127.0.0.1:0: a client sends messages
// through node 1, and node 1's /metrics, parsed as Prometheus parses it, must show
// every family with its help and type, the ring's state, the messages delivered and the
// rotations measured.
func TestMetricsEndpoint(t *testing.T) {
	bin := totemdBinary(t)
	dir, err := localring.ShortDir("tmet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r, err := localring.New(localring.Options{
		Totemd: bin, Dir: dir, Nodes: 2,
		Cluster: fmt.Sprintf("metrics-%d-%d", os.Getpid(), time.Now().UnixNano()),
		Args:    []string{"--metrics", "127.0.0.1:0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, n := range r.Nodes {
				t.Logf("log of totemd %d:\n%s", n.ID, n.Log())
			}
		}
	})
	for _, n := range r.Nodes {
		if err := r.StartNode(n); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := r.WaitRing(ctx); err != nil {
		t.Fatal(err)
	}
	addr := metricsAddr(ctx, t, r.Node(1))

	c, err := client.Dial(ctx, r.Node(1).Socket, client.WithName("metrics-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const group = "metrics"
	if err := c.Join(ctx, group); err != nil {
		t.Fatal(err)
	}
	// One message at a time, each awaited back: each then travels in a totem message of
	// its own, so the delivered counters must reach the messages sent.
	sent := map[client.Level]int{}
	var bytesSent int
	for i := range 10 {
		level := client.Agreed
		if i%2 == 1 {
			level = client.Safe
		}
		data := fmt.Appendf(nil, "message %d", i)
		if err := c.Multicast(ctx, group, data, level); err != nil {
			t.Fatal(err)
		}
		sent[level]++
		bytesSent += len(data)
		awaitMessage(ctx, t, c, data)
	}

	// The status the collector reads is published just after a delivery: scrape until
	// it shows them (bounded by ctx).
	var fams map[string]*dto.MetricFamily
	for {
		fams = scrape(ctx, t, addr)
		if value(fams, "totem_messages_delivered_total", "guarantee", "agreed") >= float64(sent[client.Agreed]) &&
			value(fams, "totem_messages_delivered_total", "guarantee", "safe") >= float64(sent[client.Safe]) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("delivered counters never reached %v: %v", sent, fams["totem_messages_delivered_total"])
		case <-time.After(50 * time.Millisecond):
		}
	}

	for name, typ := range wantFamilies {
		f := fams[name]
		switch {
		case f == nil:
			t.Errorf("no metric family %s", name)
		case f.GetHelp() == "":
			t.Errorf("%s has no HELP", name)
		case f.GetType() != typ:
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), typ)
		}
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "totem_") {
			continue
		}
		if _, listed := wantFamilies[name]; !listed {
			t.Errorf("family %s (%v) is not in the test's list", name, f.GetType())
		}
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	for _, state := range []string{"gather", "commit", "recovery", "operational", "left"} {
		want := 0.0
		if state == "operational" {
			want = 1
		}
		if got := value(fams, "totem_state", "state", state); got != want {
			t.Errorf("totem_state{state=%q} = %v, want %v", state, got, want)
		}
	}
	for _, node := range []string{"1", "2"} {
		if got := value(fams, "totem_node_member", "node", node, "state", "member"); got != 1 {
			t.Errorf("totem_node_member{node=%q,state=\"member\"} = %v, want 1", node, got)
		}
	}
	if got := value(fams, "totem_node_heard_age_seconds", "node", "2"); got < 0 {
		t.Errorf("totem_node_heard_age_seconds{node=\"2\"} = %v, want node 2 heard", got)
	}
	gauges := map[string]float64{"totem_ring_members": 2, "totem_groups": 1, "totem_authenticated": 0}
	for name, want := range gauges {
		if got := value(fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	atLeast := map[string]float64{
		"totem_clients":                   1, // ours (a status poll's session may linger)
		"totem_delivered_bytes_total":     float64(bytesSent),
		"totem_messages_originated_total": 10, // ours, one totem message each, and the group's join
		"totem_datagrams_sent_total":      1,
		"totem_datagrams_received_total":  1,
		"totem_messages_received_total":   1, // node 2's (its sync announcement at least)
	}
	for name, min := range atLeast {
		if got := value(fams, name); got < min {
			t.Errorf("%s = %v, want at least %v", name, got, min)
		}
	}
	if got := value(fams, "totem_tokens_received_total", "result", "accepted"); got < 1 {
		t.Errorf("totem_tokens_received_total{result=\"accepted\"} = %v, want visits", got)
	}
	if got := value(fams, "totem_membership_transitions_total", "from", "init", "to", "gather", "cause", "start"); got != 1 {
		t.Errorf("transitions init->gather (start) = %v, want 1", got)
	}
	if got := value(fams, "totem_membership_transitions_total", "to", "operational", "cause", "installed"); got < 1 {
		t.Errorf("transitions to operational (installed) = %v, want at least 1", got)
	}
	drops := fams["totem_datagrams_dropped_total"]
	reasons := map[string]bool{}
	for _, m := range drops.GetMetric() {
		reasons[label(m, "reason")] = true
	}
	for _, reason := range []string{"open", "header", "self", "overflow", "unknown", "fragment", "replay", "duplicate_id", "impaired"} {
		if !reasons[reason] {
			t.Errorf("totem_datagrams_dropped_total has no reason %q", reason)
		}
	}
	if a, o := value(fams, "totem_auth_failures_total"), value(fams, "totem_datagrams_dropped_total", "reason", "open"); a != o {
		t.Errorf("totem_auth_failures_total %v, dropped{reason=open} %v: want them equal", a, o)
	}
	checkRotations(t, fams["totem_token_rotation_seconds"])
}

// checkRotations: a two-node ring measures rotations, and the histogram holds together:
// the ring's bucket bounds, cumulative counts, the +Inf bucket being the count.
func checkRotations(t *testing.T, f *dto.MetricFamily) {
	t.Helper()
	if len(f.GetMetric()) != 1 {
		t.Fatalf("totem_token_rotation_seconds has %d series, want 1", len(f.GetMetric()))
	}
	h := f.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() == 0 || h.GetSampleSum() <= 0 {
		t.Fatalf("rotation histogram: count %d sum %v, want rotations measured", h.GetSampleCount(), h.GetSampleSum())
	}
	var finite []*dto.Bucket
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() <= 1e300 { // the parser may keep +Inf as a bucket
			finite = append(finite, b)
		}
	}
	if len(finite) != len(ring.RotationBuckets) {
		t.Fatalf("rotation histogram has %d finite buckets, want %d", len(finite), len(ring.RotationBuckets))
	}
	var prev uint64
	for i, b := range finite {
		if want := float64(ring.RotationBuckets[i]) / float64(time.Second); b.GetUpperBound() != want {
			t.Errorf("bucket %d bound %v, want %v", i, b.GetUpperBound(), want)
		}
		if b.GetCumulativeCount() < prev {
			t.Errorf("bucket le=%v count %d below the bucket before (%d): not cumulative", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if prev > h.GetSampleCount() {
		t.Errorf("last finite bucket %d above the count %d", prev, h.GetSampleCount())
	}
}

// A --metrics address that cannot be listened on stops totemd at startup: exit status
// not 0, the address in the message, no daemon left running.
func TestMetricsBadAddress(t *testing.T) {
	bin := totemdBinary(t)
	// An address in use: a port this test holds.
	busy, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, addr := range []string{busy.Addr().String(), "127.0.0.1:notaport", "nonsense"} {
		t.Run(addr, func(t *testing.T) {
			dir, err := localring.ShortDir("tmetbad")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			ports, err := localring.FreeUDPPorts(1)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
				"--socket", filepath.Join(dir, "s.sock"), "--state-dir", filepath.Join(dir, "state"),
				"--cluster", fmt.Sprintf("metrics-bad-%d", os.Getpid()), "--metrics", addr)
			localring.DieWithParent(cmd)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err = cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("totemd --metrics %s did not exit by itself (it started?):\n%s", addr, out.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("totemd --metrics %s: %v, want a non-zero exit status:\n%s", addr, err, out.String())
			}
			if !strings.Contains(out.String(), "--metrics") || !strings.Contains(out.String(), addr) {
				t.Errorf("the refusal does not name --metrics and %s:\n%s", addr, out.String())
			}
			if strings.Contains(out.String(), "serving clients") {
				t.Errorf("totemd served clients before refusing:\n%s", out.String())
			}
		})
	}
}

// check-config refuses a --metrics value that is not HOST:PORT, naming the line.
func TestMetricsAddressInConfig(t *testing.T) {
	bin := totemdBinary(t)
	path := filepath.Join(t.TempDir(), "m.toml")
	if err := os.WriteFile(path, []byte("node-id = 1\nmetrics = \"nonsense\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check-config", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("check-config of metrics nonsense: %v, want exit status 2:\n%s", err, out)
	}
	if want := path + `:2: metrics "nonsense"`; !strings.Contains(string(out), want) {
		t.Errorf("refusal %q lacks %q", out, want)
	}
}

var servingMetrics = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// metricsAddr waits for n's "serving metrics" log line and returns its address.
func metricsAddr(ctx context.Context, t *testing.T, n *localring.Node) string {
	t.Helper()
	for {
		if m := servingMetrics.FindStringSubmatch(n.Log()); m != nil {
			return m[1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("totemd %d never logged \"serving metrics\":\n%s", n.ID, n.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// awaitMessage reads c's events until the message with data arrives.
func awaitMessage(ctx context.Context, t *testing.T, c *client.Client, data []byte) {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("client events ended: %v", c.Err())
			}
			if m, isMsg := ev.(client.Message); isMsg && bytes.Equal(m.Data, data) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("message %q never delivered back", data)
		}
	}
}

// scrape fetches and parses http://addr/metrics.
func scrape(ctx context.Context, t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the one series of family name whose labels include the given
// name, value pairs, or of the sum of them if several match; -1 if none does.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if label(m, labels[i]) != labels[i+1] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	if !found {
		return -1
	}
	return sum
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
