package rsm

import "testing"

func TestDecide(t *testing.T) {
	a, b, c := Member{1, 1}, Member{2, 1}, Member{3, 1}
	e1, e2 := ballot{K: 1, Inst: 9}, ballot{K: 2, Inst: 5}
	fresh := status{}
	held := func(e ballot, applied uint64, d string) status {
		return status{Epoch: e, Synced: true, Applied: applied, Digest: []byte(d)}
	}
	tests := []struct {
		name      string
		members   []Member
		acks      []status
		blocked   bool
		bootstrap bool
		source    Member
	}{
		{"fresh cluster, all replicas: start from the initial state", []Member{a, b, c}, []status{fresh, fresh, fresh}, false, true, a},
		{"fresh, only a majority: wait for all (no second history)", []Member{a, b}, []status{fresh, fresh}, true, false, Member{}},
		{"a minority never decides", []Member{a}, []status{held(e1, 3, "x")}, true, false, Member{}},
		{"the latest epoch wins over more commands", []Member{a, b, c}, []status{held(e1, 9, "x"), held(e2, 5, "y"), fresh}, false, false, b},
		{"same epoch: most commands applied", []Member{a, b, c}, []status{held(e2, 4, "x"), held(e2, 6, "y"), held(e2, 5, "z")}, false, false, b},
		{"same epoch and count: lowest member", []Member{a, b, c}, []status{held(e2, 6, "x"), held(e2, 6, "x"), fresh}, false, false, a},
		{"latest epoch held by no one: blocked", []Member{a, b}, []status{held(e1, 9, "x"), {Epoch: e2}}, true, false, Member{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acks := make(map[Member]status)
			for i, m := range tt.members {
				acks[m] = tt.acks[i]
			}
			d := decide(3, tt.members, acks)
			if d.blocked != tt.blocked || d.bootstrap != tt.bootstrap || (!tt.blocked && d.source != tt.source) {
				t.Fatalf("decide = %+v, want blocked %v bootstrap %v source %v", d, tt.blocked, tt.bootstrap, tt.source)
			}
		})
	}
}

// Of five replicas, a majority view whose members mostly restarted empty may not know the
// latest epoch: it waits for more members that completed a round, or for all five.
func TestDecideNeedsAMajorityThatKnows(t *testing.T) {
	ms := []Member{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}}
	old := status{Epoch: ballot{K: 1, Inst: 7}, Synced: true, Applied: 21, Digest: []byte("old")}
	acks := map[Member]status{ms[0]: old, ms[1]: old, ms[2]: {}, ms[3]: {}, ms[4]: {}}
	if d := decide(5, ms[:4], acks); !d.blocked {
		t.Fatalf("four of five, two of them empty: decide = %+v, want blocked", d)
	}
	acks[ms[2]] = old
	if d := decide(5, ms[:4], acks); d.blocked || d.source != ms[0] {
		t.Fatalf("four of five, three knowing: decide = %+v, want the state of %v", d, ms[0])
	}
	acks[ms[2]] = status{}
	if d := decide(5, ms, acks); d.blocked || d.source != ms[0] {
		t.Fatalf("all five present: decide = %+v, want the state of %v", d, ms[0])
	}
}

func TestNeedsTransfer(t *testing.T) {
	src := status{Epoch: ballot{K: 2}, Synced: true, Applied: 5, Digest: []byte("d")}
	d := decision{source: Member{1, 1}, src: src}
	for _, tt := range []struct {
		st   status
		want bool
	}{
		{src, false},
		{status{Epoch: ballot{K: 1}, Synced: true, Applied: 5, Digest: []byte("d")}, false}, // same commands: same state
		{status{Epoch: ballot{K: 2}, Synced: true, Applied: 5, Digest: []byte("e")}, true},  // diverged (a minority's extra commands)
		{status{Epoch: ballot{K: 2}, Synced: false, Applied: 5, Digest: []byte("d")}, true}, // transfer still pending
		{status{}, true}, // a new replica
	} {
		if got := d.needsTransfer(tt.st); got != tt.want {
			t.Errorf("needsTransfer(%+v) = %v, want %v", tt.st, got, tt.want)
		}
	}
}

func TestDedupTable(t *testing.T) {
	d := newDedup(2, 2)
	if _, st := d.check(1, 1); st != dupNew {
		t.Fatal("first command not new")
	}
	d.record(1, 1, []byte("r1"), 1)
	d.record(1, 2, []byte("r2"), 2)
	d.record(1, 3, []byte("r3"), 3)
	if res, st := d.check(1, 3); st != dupCached || string(res) != "r3" {
		t.Fatalf("check(1,3) = %q %v", res, st)
	}
	if _, st := d.check(1, 1); st != dupExpired {
		t.Fatalf("check(1,1) = %v, want expired (two results per client)", st)
	}
	d.record(2, 1, nil, 4)
	d.record(3, 1, nil, 5) // evicts client 1, the least recently used
	if _, st := d.check(1, 3); st != dupNew {
		t.Fatalf("evicted client: %v, want new", st)
	}
}

// The protocol's messages are msgpack arrays (the `_msgpack` tag field; a field named
// `_` was silently ignored, and they went out as maps of field names).
func TestMessagesAreArrays(t *testing.T) {
	for _, v := range []any{&cmdMsg{}, &ackMsg{}, &stableMsg{}, &requestMsg{}, &replyMsg{}, &snapMeta{}} {
		b := encode(kindCmd, v)
		if b[1]&0xf0 != 0x90 && b[1] != 0xdc {
			t.Errorf("%T encodes as %#x..., not an array", v, b[1])
		}
	}
}
