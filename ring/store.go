package ring

import "github.com/totem-gcs/totem/multicast/wire"

// store keeps the messages of one ring between the last released sequence number and the
// highest one received, indexed by sequence number. It is a sliding window: releasing
// drops the front, storing beyond the end grows it. Slots may be empty (missing messages).
type store struct {
	released wire.Seq      // every seq <= released has been freed
	slots    []*wire.Mcast // slots[i] holds seq released+1+i, or nil if missing
}

// get returns the message with sequence number s, or nil if it is missing or released.
func (st *store) get(s wire.Seq) *wire.Mcast {
	if s <= st.released {
		return nil
	}
	i := uint64(s - st.released - 1)
	if i >= uint64(len(st.slots)) {
		return nil
	}
	return st.slots[i]
}

// has reports whether s is held (or was released, which implies everyone had it).
func (st *store) has(s wire.Seq) bool { return s <= st.released || st.get(s) != nil }

// put stores m at m.Seq; it reports false if the slot is released or already filled.
// The caller checks the window bound before calling.
func (st *store) put(m *wire.Mcast) bool {
	if m.Seq <= st.released {
		return false
	}
	i := int(m.Seq - st.released - 1)
	for len(st.slots) <= i {
		st.slots = append(st.slots, nil)
	}
	if st.slots[i] != nil {
		return false
	}
	st.slots[i] = m
	return true
}

// release frees every message with seq <= upTo.
func (st *store) release(upTo wire.Seq) {
	if upTo <= st.released {
		return
	}
	n := int(upTo - st.released)
	if n >= len(st.slots) {
		clear(st.slots)
		st.slots = st.slots[:0]
	} else {
		clear(st.slots[:n])
		st.slots = st.slots[n:]
	}
	st.released = upTo
}

// held is the number of slots between the release point and the highest stored seq.
func (st *store) held() int { return len(st.slots) }
