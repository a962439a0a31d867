package rsm

import (
	"cmp"
	"slices"
)

// dedupTable remembers, per client, the highest sequence number applied and the
// results of its most recent commands. It is part of the replicated state: it changes
// only as commands are applied, so it is identical at every replica that applied the
// same commands, and it travels in snapshots.
//
// Bounds: at most maxClients clients, each with at most perClient results. When a new
// client would exceed maxClients, the client whose last command is oldest (lowest
// applied index) is forgotten; a retry from a forgotten client is applied again. A
// command whose seq is at or below its client's highest applied seq is a duplicate:
// answered from the cache, or ErrExpired once its result has been pushed out.
type dedupTable struct {
	maxClients int
	perClient  int
	clients    map[uint64]*clientRecord
}

type clientRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	Client   uint64
	Latest   uint64   // highest seq applied
	Used     uint64   // applied index of its latest command: the eviction order
	Seqs     []uint64 // the seqs of the cached results, ascending
	Results  [][]byte
}

type dupState uint8

const (
	dupNew     dupState = iota // never applied: apply it
	dupCached                  // applied; here is its result
	dupExpired                 // applied; result forgotten
)

func newDedup(maxClients, perClient int) *dedupTable {
	return &dedupTable{maxClients: maxClients, perClient: perClient, clients: make(map[uint64]*clientRecord)}
}

func (t *dedupTable) check(client, seq uint64) ([]byte, dupState) {
	rec := t.clients[client]
	if rec == nil || seq > rec.Latest {
		return nil, dupNew
	}
	if i, ok := slices.BinarySearch(rec.Seqs, seq); ok {
		return rec.Results[i], dupCached
	}
	return nil, dupExpired
}

// record stores the result of a new command (seq above the client's Latest).
func (t *dedupTable) record(client, seq uint64, result []byte, index uint64) {
	rec := t.clients[client]
	if rec == nil {
		t.evict()
		rec = &clientRecord{Client: client}
		t.clients[client] = rec
	}
	rec.Latest, rec.Used = seq, index
	rec.Seqs = append(rec.Seqs, seq)
	rec.Results = append(rec.Results, result)
	if over := len(rec.Seqs) - t.perClient; over > 0 {
		rec.Seqs = slices.Delete(rec.Seqs, 0, over)
		rec.Results = slices.Delete(rec.Results, 0, over)
	}
}

// evict makes room for one more client, deterministically.
func (t *dedupTable) evict() {
	for len(t.clients) >= t.maxClients {
		var old *clientRecord
		for _, rec := range t.clients {
			if old == nil || rec.Used < old.Used || (rec.Used == old.Used && rec.Client < old.Client) {
				old = rec
			}
		}
		delete(t.clients, old.Client)
	}
}

// export lists the records in client order, for a snapshot.
func (t *dedupTable) export() []*clientRecord {
	out := make([]*clientRecord, 0, len(t.clients))
	for _, rec := range t.clients {
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b *clientRecord) int { return cmp.Compare(a.Client, b.Client) })
	return out
}

func (t *dedupTable) load(recs []*clientRecord) {
	t.clients = make(map[uint64]*clientRecord, len(recs))
	for _, rec := range recs {
		if len(rec.Seqs) == len(rec.Results) {
			t.clients[rec.Client] = rec
		}
	}
}
