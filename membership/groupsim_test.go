package membership_test

import (
	"testing"
	"time"

	"github.com/totem-gcs/totem/internal/simtest"
	"github.com/totem-gcs/totem/membership/clustersim"
)

// openGroupBugs are seeds that fail on bugs found by the group simulation and not fixed
// yet (see TestGroupRegressions): TestGroupSimulation leaves them out, naming them, so
// that every other seed keeps being checked.
var openGroupBugs = map[uint64]string{}

// TestGroupSimulation runs the whole stack, membership and the group layer
// (groups.Machine) on every processor, over the cluster simulation's network, nemesis
// and seeds, with a seeded workload of sessions that open, join and leave groups,
// multicast agreed and safe messages (one in five larger than a payload, so that records
// fragment across totem messages and across configuration changes) and close. Every run
// is checked against EVS (the totem messages) and the group view properties
// (clustersim.CheckGroups, over every session's log); after the faults every processor
// must share one ring with everything delivered within clustersim.LivenessBound.
func TestGroupSimulation(t *testing.T) {
	var virtual time.Duration
	var runs, sessions, messages, views, fragmented int
	seeds := simtest.Seeds(t, 50)
	for _, seed := range seeds {
		if bug, open := openGroupBugs[seed]; open && len(seeds) > 1 {
			t.Logf("seed %d left out: open bug %q (TestGroupRegressions)", seed, bug)
			continue
		}
		res := clustersim.RunGroupCluster(seed, clustersim.ClusterParamsFor(seed))
		runs++
		virtual += res.VirtualTime
		sessions += res.Sessions
		messages += res.Messages
		views += res.Views
		fragmented += res.Fragmented
		if res.Failed() {
			t.Errorf("%s\nreplay: %s", res.Report(40), simtest.ReplayCommand("./membership", "TestGroupSimulation", seed))
		}
	}
	t.Logf("%d seeds, %.1f simulated minutes, %d sessions, %d messages sent larger than a payload, %d message and %d view deliveries",
		runs, virtual.Minutes(), sessions, fragmented, messages, views)
}

// Regressions: seeds on which the group simulation found a bug, each kept with its name.
// Those whose bug is still open are skipped, with the bug named. Each fixed bug is also a
// test that keeps the order of events that broke the property and checks the property
// (named below): a seed stays the scenario it was only while the random draws and the
// packets stay the same.
func TestGroupRegressions(t *testing.T) {
	tests := []struct {
		name string
		seed uint64
		open bool
	}{
		// The end of a sync barrier applied every held record, then routed all their
		// events to the group's members as of the last one: a session that joined, was
		// sent messages and left among them got none of it, others got views twice.
		// groups.TestBarrierRoutesHeldEventsToTheirMembers.
		{"barrier routed held events to the final members", 1, false},
		// A transitional configuration delivered a departed node's join after its members
		// were dropped: the member came back, on every node of the configuration, a
		// ghost nothing would remove. groups.TestTransitionalIgnoresDepartedNodesRecords.
		{"departed node's join in a transitional configuration", 4, false},
		// A final-views failure that was the harness's: it called the run settled while a
		// message was still on its way to one processor (a bug of the harness, not of a
		// property: the seed is its test).
		{"settled before every processor had every message", 7, false},
		// A receiver met the continuation of a record whose start it had ("broken
		// fragment stream ... continuation of record N without its start"): the
		// transitional configuration forgot the partial records of the nodes that left,
		// though EVS still delivers their old ring's messages in it, and one continued a
		// record begun before. The daemon had it too: a large message lost across a
		// configuration change. groups.TestTransitionalKeepsDepartedNodesPartialRecords.
		{"fragment continuation without its start", 11, false},
		{"fragment continuation without its start, 2", 17, false},
		{"fragment continuation without its start, 3", 42, false},
		// At a merge two members seemed to see two views of one totem message in opposite
		// orders (one saw X come up by its node's announcement then leave, X itself leave
		// then join again): the checker took the announcement's view and X's rejoin, the
		// same members and the same member added, for one view. Views now differ by
		// their changes' reasons too; each side's sequence was right.
		// clustersim.TestViewsThatDifferOnlyByReasonsAreTwoViews.
		{"merge views told apart by their reasons", 26, false},
		{"merge views told apart by their reasons, 2", 54, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.open {
				t.Skipf("open bug, seed %d: replay with %s", tt.seed, simtest.ReplayCommand("./membership", "TestGroupSimulation", tt.seed))
			}
			res := clustersim.RunGroupCluster(tt.seed, clustersim.ClusterParamsFor(tt.seed))
			if res.Failed() {
				t.Fatal(res.Report(40))
			}
		})
	}
}
