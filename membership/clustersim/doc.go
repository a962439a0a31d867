// Package clustersim is the seeded simulation of a cluster of membership machines over
// multicast/simnet, and the checkers of what they deliver: RunCluster (membership alone,
// its totem messages checked against EVS by CheckEVS) and RunGroupCluster (membership
// and the group layer, groups.Machine, on every processor, with a workload of sessions;
// their logs checked by CheckGroups as well). A seed fixes the cluster, the network and
// the nemesis, so any failure replays from it (internal/simtest's Seeds and
// ReplayCommand).
//
// Where the next session picks up (issue 13): each seed regression of membership's
// TestClusterRegressions and TestGroupRegressions is to become a script of membership's
// TestScripts (or a groups script) that checks the property the bug broke, so that it
// stays that scenario when the random draws change.
package clustersim
