package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		ringtest.Cleanup()
		os.Exit(code)
	}))
}

// summarizeKeys are the keys shared/bench/summarize.py reads from a RESULT line, in
// both modes and in lat mode only.
var (
	summarizeKeys    = []string{"sys", "mode", "n", "senders", "size", "run", "expected", "t0_ns", "tlast_ns", "msgs_per_s", "try_again", "complete", "digest"}
	summarizeLatKeys = []string{"rate", "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_max_us"}
)

// resultKeys are every key of a RESULT line, in cpgload's order.
var resultKeys = strings.Fields("sys mode node nodeid n senders size run sent delivered expected bytes t0_ns tfirst_ns " +
	"tlast_ns elapsed_s msgs_per_s mb_per_s try_again order_errors size_errors foreign member_left complete digest")

var latKeys = strings.Fields("rate lat_n lat_mean_us lat_p50_us lat_p90_us lat_p99_us lat_max_us")

// parseResult checks that out holds exactly one line, a RESULT line with cpgload's
// keys in cpgload's order (then why=, if any), and returns its keys and values.
func parseResult(t *testing.T, out string) map[string]string {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "RESULT ") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("output is not one RESULT line: %q", out)
	}
	fields := strings.Fields(out)[1:]
	kv := make(map[string]string, len(fields))
	var keys []string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("RESULT field %q is not key=value: %q", f, out)
		}
		keys = append(keys, k)
		kv[k] = v
	}
	want := resultKeys
	if kv["mode"] == "lat" {
		want = append(want[:len(want):len(want)], latKeys...)
	}
	if _, ok := kv["why"]; ok {
		want = append(want[:len(want):len(want)], "why")
	}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("RESULT keys\n got %v\nwant %v", keys, want)
	}
	return kv
}
