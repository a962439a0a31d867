package membership

import (
	"slices"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Node sets are sorted slices without duplicates: deterministic to iterate and to encode.

func setAdd(s []wire.NodeID, ids ...wire.NodeID) []wire.NodeID {
	for _, id := range ids {
		if i, ok := slices.BinarySearch(s, id); !ok {
			s = slices.Insert(s, i, id)
		}
	}
	return s
}

func setHas(s []wire.NodeID, id wire.NodeID) bool {
	_, ok := slices.BinarySearch(s, id)
	return ok
}

// setMinus returns the elements of a not in b, as a new slice.
func setMinus(a, b []wire.NodeID) []wire.NodeID {
	var out []wire.NodeID
	for _, id := range a {
		if !setHas(b, id) {
			out = append(out, id)
		}
	}
	return out
}

func setSubset(a, b []wire.NodeID) bool {
	for _, id := range a {
		if !setHas(b, id) {
			return false
		}
	}
	return true
}

// setOf returns a sorted, deduplicated copy of ids.
func setOf(ids []wire.NodeID) []wire.NodeID {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}
