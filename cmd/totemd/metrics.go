package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/ring"
	"github.com/totem-gcs/totem/totem"
)

// serveMetrics serves the node's Prometheus metrics at http://addr/metrics until ctx
// ends. It listens before it returns, so that an address it cannot listen on is an
// error at startup, and returns the address it listens on (addr's port may be 0).
func serveMetrics(ctx context.Context, addr string, node *totem.Node, log *slog.Logger) (net.Addr, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{node: node},
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "addr", ln.Addr(), "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	return ln.Addr(), nil
}

// checkMetricsAddr refuses a --metrics value that is not HOST:PORT ("" is none), so that
// check-config catches it; whether it can be listened on is found at start.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
		return fmt.Errorf("--metrics %s: want HOST:PORT, as 127.0.0.1:9405", addr)
	}
	return nil
}

// nodeCollector exports a snapshot of node.Status() at each scrape: gauges of the
// state and the queues, counters of the rings, of the membership and of the transport.
type nodeCollector struct{ node *totem.Node }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("totem_"+name, help, labels, nil)
}

var (
	descState   = desc("state", "The membership state: 1 for the state the node is in, 0 for the others.", "state")
	descMembers = desc("ring_members", "Members of the ring this node is in (its last installed configuration).")
	descClients = desc("clients", "Open client sessions.")
	descGroups  = desc("groups", "Process groups with at least one member, anywhere on the ring.")
	descAuth    = desc("authenticated", "1 if the transport authenticates every datagram (a pre-shared key), else 0.")
	descQueued  = desc("queued_messages", "Totem messages waiting for the token (on the ring, or for a ring to form).")
	descPending = desc("pending_records", "Records (client messages, group changes) waiting to be packed into totem messages.")
	descWaiting = desc("waiting_multicasts", "Client multicasts held back by backpressure.")

	descRotation       = desc("token_rotation_seconds", "Token rotation time measured by this node, from forwarding the token to having it back (rotations during which the token was re-sent, or may have been held, are not measured).")
	descDelivered      = desc("messages_delivered_total", "Totem messages delivered by this node in the total order, by guarantee (each packs one or more records).", "guarantee")
	descDeliveredBytes = desc("delivered_bytes_total", "Payload bytes of the totem messages delivered by this node.")
	descOriginated     = desc("messages_originated_total", "New totem messages this node multicast on the ring (each numbered in the total order).")
	descRetransmitted  = desc("messages_retransmitted_total", "Totem messages this node multicast again because a member asked for them.")
	descRequested      = desc("retransmit_requests_total", "Retransmission requests this node added to the token for messages it missed.")
	descReceived       = desc("messages_received_total", "Totem messages received by this node, duplicates included.")
	descDiscarded      = desc("messages_discarded_total", "Received totem messages dropped: a copy already held, or outside the store window.", "reason")
	descTokens         = desc("tokens_received_total", "Tokens received: accepted (a visit), duplicate (a stale copy) or foreign (another ring's).", "result")
	descTokenResent    = desc("token_retransmits_total", "Times this node sent its copy of the token again because no sign came that its successor got it.")
	descHoldCancel     = desc("token_hold_cancel_retries_total", "Times this node asked again for a token held on an idle ring that did not come.")
	descTransitions    = desc("membership_transitions_total", "Membership state changes, by states and cause (token_lost, join, merge, consensus, commit_token_lost, ...: the token losses and ring changes).", "from", "to", "cause")

	descSent       = desc("datagrams_sent_total", "Datagrams handed to the network (in udpu mode a multicast counts once per member).")
	descSendErrors = desc("send_errors_total", "Datagram sends the operating system refused.")
	descRecv       = desc("datagrams_received_total", "Datagrams received and passed to the protocol.")
	descDropped    = desc("datagrams_dropped_total", "Received datagrams dropped, by reason: open (failed authentication or checksum), header, self, overflow, unknown (sender), fragment, replay, duplicate_id, impaired.", "reason")
	descNodeMember = desc("node_member", "Each known node (configured, heard or in the ring): 1 while it is a member of this node's ring, 0 while it is missing or unknown.", "node", "state")
	descNodeHeard  = desc("node_heard_age_seconds", "Seconds since this node last accepted a datagram from the node (absent: never heard; not exported for this node itself).", "node")
	descAuthFail   = desc("auth_failures_total", "Datagrams that failed authentication (or their checksum): another key, forged or corrupted (datagrams_dropped_total{reason=\"open\"}).")
)

// states are the membership states totem_state reports.
var states = []membership.State{membership.Gather, membership.Commit, membership.Recovery, membership.Operational, membership.Left}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descMembers, descClients, descGroups, descAuth, descQueued, descPending, descWaiting,
		descRotation, descDelivered, descDeliveredBytes, descOriginated, descRetransmitted, descRequested, descReceived, descDiscarded,
		descTokens, descTokenResent, descHoldCancel, descTransitions,
		descSent, descSendErrors, descRecv, descDropped, descAuthFail, descNodeMember, descNodeHeard} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range states {
		gauge(descState, b2f(st.State == s), s.String())
	}
	gauge(descMembers, float64(len(st.Members)))
	gauge(descClients, float64(st.Sessions))
	gauge(descGroups, float64(len(st.Groups)))
	gauge(descAuth, b2f(st.Authenticated))
	gauge(descQueued, float64(st.Queued))
	gauge(descPending, float64(st.Pending))
	gauge(descWaiting, float64(st.Waiting))

	rs := st.RingStats
	ch <- rotationHistogram(rs.Rotations)
	counter(descDelivered, st.DeliveredAgreed, "agreed")
	counter(descDelivered, st.DeliveredSafe, "safe")
	counter(descDeliveredBytes, st.DeliveredBytes)
	counter(descOriginated, rs.Originated)
	counter(descRetransmitted, rs.Retransmitted)
	counter(descRequested, rs.RequestedRTR)
	counter(descReceived, rs.McastsReceived)
	counter(descDiscarded, rs.McastsDuplicate, "duplicate")
	counter(descDiscarded, rs.McastsOutOfWindow, "out_of_window")
	counter(descTokens, rs.TokensAccepted, "accepted")
	counter(descTokens, rs.TokensDuplicate, "duplicate")
	counter(descTokens, rs.TokensForeign, "foreign")
	counter(descTokenResent, rs.TokenRetransmits)
	counter(descHoldCancel, rs.HoldCancelRetries)
	for tr, n := range st.Transitions {
		counter(descTransitions, n, tr.From.String(), tr.To.String(), tr.Cause) // From "init": the start
	}

	ts := st.Stats
	counter(descSent, ts.Sent)
	counter(descSendErrors, ts.SendErrors)
	counter(descRecv, ts.Received)
	for _, d := range []struct {
		reason string
		n      uint64
	}{
		{"open", ts.DropOpen}, {"header", ts.DropHeader}, {"self", ts.DropSelf}, {"overflow", ts.DropOverflow},
		{"unknown", ts.DropUnknown}, {"fragment", ts.DropFragment}, {"replay", ts.DropReplay},
		{"duplicate_id", ts.DropDupID}, {"impaired", ts.DropImpaired},
	} {
		counter(descDropped, d.n, d.reason)
	}
	counter(descAuthFail, ts.DropOpen)

	now := time.Now()
	for _, nd := range st.Nodes {
		id := strconv.FormatUint(uint64(nd.ID), 10)
		gauge(descNodeMember, b2f(nd.State == totem.NodeMember), id, string(nd.State))
		if !nd.LastHeard.IsZero() && !nd.Self {
			gauge(descNodeHeard, now.Sub(nd.LastHeard).Seconds(), id)
		}
	}
}

// rotationHistogram is the ring's fixed-bucket histogram in Prometheus's form: in
// seconds, with cumulative bucket counts.
func rotationHistogram(h ring.RotationHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(ring.RotationBuckets))
	var cum uint64
	for i, bound := range ring.RotationBuckets {
		cum += h.Counts[i]
		buckets[seconds(bound)] = cum
	}
	return prometheus.MustNewConstHistogram(descRotation, h.Count, seconds(h.Sum), buckets)
}

// seconds is d in seconds, as the nearest float (Duration.Seconds adds two rounded
// parts: 1.6383999999999999 for 1.6384s).
func seconds(d time.Duration) float64 { return float64(d) / float64(time.Second) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
