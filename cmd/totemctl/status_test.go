package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/totem/client"
)

// fixedStatus is a three-node udpu ring's status as node 1 sees it, node 3 down.
func fixedStatus() client.Status {
	ap := netip.MustParseAddrPort
	return client.Status{
		NodeID: 1, State: "operational", Ring: client.RingID{Rep: 1, Seq: 12}, Members: []client.NodeID{1, 2},
		Rotation: 812 * time.Microsecond, Security: "authenticated", AuthFailures: 4, Transport: "udpu",
		Timers: client.Timers{
			Token: 3 * time.Second, TokenRetransmit: 714285 * time.Microsecond, TokenRetransmitMin: 4 * time.Millisecond,
			Hold: 571428 * time.Microsecond, FailToReceive: 2500 * time.Millisecond, Consensus: 3600 * time.Millisecond,
			Join: 50 * time.Millisecond, Merge: 200 * time.Millisecond,
		},
		Nodes: []client.NodeInfo{
			{ID: 1, Addr: ap("10.0.0.1:5405"), State: client.NodeMember, Self: true, Configured: true},
			{ID: 2, Addr: ap("10.0.0.2:5405"), State: client.NodeMember, Configured: true, Heard: true, HeardAgo: 213 * time.Millisecond},
			{ID: 3, Addr: ap("10.0.0.3:5405"), State: client.NodeMissing, Configured: true, Heard: true, HeardAgo: 95 * time.Second},
			{ID: 4, Addr: ap("[fd00::4]:5405"), State: client.NodeMissing, Configured: true},
			{ID: 9, Addr: ap("10.0.0.9:5405"), State: client.NodeUnknown, Heard: true, HeardAgo: 2 * time.Hour},
		},
	}
}

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatus(&b, fixedStatus()); err != nil {
		t.Fatal(err)
	}
	want := `node id         1
state           operational
ring id         1.12
members         1 2
token rotation  812µs
transport       udpu
key             yes: authenticated (every datagram encrypted and authenticated)
timers          token 3s, token retransmit 714ms (adaptive, from 4ms), hold 571ms, consensus 3.6s, join 50ms, merge 200ms, fail to receive 2.5s

NODE  ADDRESS         STATE    LAST HEARD
1     10.0.0.1:5405   member   (this node)
2     10.0.0.2:5405   member   0.2s ago
3     10.0.0.3:5405   missing  1m35s ago
4     [fd00::4]:5405  missing  never
9     10.0.0.9:5405   unknown  2h00m ago

auth failures      4 (datagrams of another key, or forged: see the daemon's log)
replayed           0
duplicate node id  0
`
	if got := b.String(); got != want {
		t.Errorf("status table:\n%s\nwant:\n%s", got, want)
	}
}

// An older daemon reports no nodes, transport or timers: the table leaves them out.
func TestWriteStatusOldDaemon(t *testing.T) {
	var b bytes.Buffer
	st := client.Status{NodeID: 2, State: "gather", Security: "unauthenticated"}
	if err := writeStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `node id         2
state           gather
ring id         0.0
members         none
token rotation  not measured
key             none: unauthenticated (datagrams are only checksummed)

auth failures      0
replayed           0
duplicate node id  0
`
	if got := b.String(); got != want {
		t.Errorf("status table:\n%q\nwant:\n%q", got, want)
	}
}

func TestStatusJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, statusOut(fixedStatus())); err != nil {
		t.Fatal(err)
	}
	want := `{"node_id":1,"state":"operational","ring_id":"1.12","members":[1,2],"rotation_us":812,` +
		`"security":"authenticated","auth_failures":4,"replayed":0,"duplicate_id":0,"transport":"udpu","key":true,` +
		`"timers":{"token_us":3000000,"token_retransmit_us":714285,"token_retransmit_min_us":4000,"hold_us":571428,` +
		`"fail_to_receive_us":2500000,"consensus_us":3600000,"join_us":50000,"merge_us":200000},` +
		`"nodes":[{"node_id":1,"address":"10.0.0.1:5405","state":"member","self":true,"configured":true,"heard_ago_us":null},` +
		`{"node_id":2,"address":"10.0.0.2:5405","state":"member","self":false,"configured":true,"heard_ago_us":213000},` +
		`{"node_id":3,"address":"10.0.0.3:5405","state":"missing","self":false,"configured":true,"heard_ago_us":95000000},` +
		`{"node_id":4,"address":"[fd00::4]:5405","state":"missing","self":false,"configured":true,"heard_ago_us":null},` +
		`{"node_id":9,"address":"10.0.0.9:5405","state":"unknown","self":false,"configured":false,"heard_ago_us":7200000000}]}` + "\n"
	if got := b.String(); got != want {
		t.Errorf("status --json:\n got %s\nwant %s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	empty := statusOut(client.Status{})
	if empty.Members == nil || empty.Nodes == nil {
		t.Errorf("empty status: members %v, nodes %v: want [] rather than null", empty.Members, empty.Nodes)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                              "0.0s",
		40 * time.Millisecond:          "0.0s",
		213 * time.Millisecond:         "0.2s",
		59940 * time.Millisecond:       "59.9s",
		time.Minute:                    "1m00s",
		61*time.Minute + 5*time.Second: "1h01m",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
	if !strings.HasSuffix(lastHeard(client.NodeInfo{Heard: true, HeardAgo: time.Second}), " ago") {
		t.Error("lastHeard: no ago")
	}
}
