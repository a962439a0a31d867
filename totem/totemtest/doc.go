// Package totemtest holds what the simulation tests of several packages share: seed
// selection and replay instructions (Seeds, ReplayCommand), the ring and cluster
// simulations over multicast/simnet (RunCluster), the whole stack with the group layer
// on every processor (RunGroupCluster), the EVS checker (CheckEVS), the group-view
// checker (CheckGroups), CheckPure for the pure machines, and WaitRing for tests of
// real nodes.
//
// Issue 13, where the next session picks up:
//   - the simulations and checkers are to move beside what they test (membership's
//     cluster simulation and EVS checker next to membership, the group checker next to
//     groups), with this package keeping only what is shared;
//   - each seed regression (membership's TestClusterRegressions, the group ones) is to
//     become a script of membership's TestScripts (or a groups script) that checks the
//     property the bug broke, so that it stays that scenario when the random draws
//     change.
package totemtest
