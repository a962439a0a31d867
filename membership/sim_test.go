package membership_test

import (
	"testing"

	"github.com/totem-gcs/totem/totem/totemtest"
)

func TestClusterSimulation(t *testing.T) {
	for _, seed := range totemtest.Seeds(t, 50) {
		res := totemtest.RunCluster(seed, totemtest.ClusterParamsFor(seed))
		if res.Failed() {
			t.Errorf("%s\nreplay: %s", res.Report(40), totemtest.ReplayCommand("./membership", "TestClusterSimulation", seed))
		}
	}
}

func TestQuietClusterForms(t *testing.T) {
	p := totemtest.ClusterParamsFor(1)
	p.Nemesis = nil
	res := totemtest.RunCluster(1, p)
	if res.Failed() {
		t.Fatal(res.Report(60))
	}
	t.Logf("settled after %v, %d deliveries, %d configs", res.Settled, res.Delivered, res.Configs)
}
