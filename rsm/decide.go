package rsm

import (
	"bytes"
	"slices"
)

// round is a state-exchange round this replica promised (acked): the members of the
// view it was prepared for and the statuses they reported.
type round struct {
	ballot  ballot
	members []Member
	acks    map[Member]status
	viewSeq uint64 // this replica's view when it acked: unchanged at completion = installed
}

// decision is what a completed round decides, identically at every replica that
// completes it (a pure function of the acks, delivered in one order everywhere).
type decision struct {
	blocked   bool   // no replica of the view holds the latest state: establish nothing
	bootstrap bool   // a fresh cluster: every replica starts from the initial state
	source    Member // the replica whose state the new epoch starts from
	src       status
}

// hasQuorum says whether n members are a strict majority of the expected replicas. More
// members than expected is a misconfiguration under which two disjoint "majorities"
// could exist, so it is refused too.
func hasQuorum(n, replicas int) bool { return 2*n > replicas && n <= replicas }

// decide picks the state a new epoch starts from:
//   - the latest epoch any member completed is the one to continue; only a member that
//     holds it (synced) can be the source, the one with most commands applied, then the
//     lowest member. If no member holds it, nothing is established (blocked): the latest
//     state may hold results already returned to clients, and a member that completed
//     that epoch without its state cannot rebuild it.
//   - the members that completed a round in their present life (the others restarted
//     empty, or are new) must be a majority of the expected replicas, unless every
//     replica is present: only they carry what the epochs before knew. A majority
//     view of which most members restarted empty may not hold a single member of the
//     view that established the latest epoch, and would continue an older one beside
//     it (found by the replica simulation, seed 387: a majority of two members that
//     knew epoch 1 and three restarted empty established a second epoch 2 from the
//     older state; when the sides merged, the answers of the real epoch 2 were lost).
//   - a cluster where no member ever completed a round starts from the initial state,
//     but only with every expected replica present (like Corosync's wait_for_all), so
//     that replicas restarted empty cannot start a second history beside a replica
//     that holds the real one.
func decide(replicas int, members []Member, acks map[Member]status) decision {
	if !hasQuorum(len(members), replicas) {
		return decision{blocked: true}
	}
	var latest ballot
	for _, m := range members {
		if e := acks[m].Epoch; latest.less(e) {
			latest = e
		}
	}
	if latest.isZero() {
		return decision{bootstrap: len(members) == replicas, blocked: len(members) != replicas, source: members[0]}
	}
	if len(members) != replicas && !hasQuorum(knowing(members, acks), replicas) {
		return decision{blocked: true}
	}
	d := decision{blocked: true}
	for _, m := range members { // sorted: ties go to the lowest member
		st := acks[m]
		if st.Synced && st.Epoch == latest && (d.blocked || st.Applied > d.src.Applied) {
			d = decision{source: m, src: st}
		}
	}
	return d
}

// knowing counts the members that completed a round in their present life.
func knowing(members []Member, acks map[Member]status) int {
	n := 0
	for _, m := range members {
		if !acks[m].Epoch.isZero() {
			n++
		}
	}
	return n
}

// needsTransfer says whether a member that reported st must take the source's snapshot.
// Equal digests mean the same commands were applied in the same order, hence (Apply
// being deterministic) the same state.
func (d decision) needsTransfer(st status) bool {
	if d.bootstrap {
		return false
	}
	return !st.Synced || st.Applied != d.src.Applied || !bytes.Equal(st.Digest, d.src.Digest)
}

// anyTransfer says whether some member of r must take a snapshot.
func (d decision) anyTransfer(r *round) bool {
	return slices.ContainsFunc(r.members, func(m Member) bool { return d.needsTransfer(r.acks[m]) })
}
