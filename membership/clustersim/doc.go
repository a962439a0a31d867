// Package clustersim is the seeded simulation of a cluster of membership machines over
// multicast/simnet, and the checkers of what they deliver:
//   - RunCluster: membership alone, its totem messages checked against EVS (CheckEVS);
//   - RunGroupCluster: membership and the group layer (groups.Machine) on every
//     processor, with a workload of sessions, their logs checked against the group view
//     properties (CheckGroups) as well;
//   - RunReplicaCluster: the group simulation with an rsm replica of a replicated log on
//     every processor, its answers and final logs checked by CheckReplicas as well.
//
// A seed fixes the cluster, the network and the nemesis, so any failure replays from it
// (internal/simtest's Seeds and ReplayCommand). Every bug a seed found is also a test
// that keeps its order of events (membership's TestScripts, the group layer's tests): a
// seed becomes another scenario whenever the random draws or the packets change.
package clustersim
