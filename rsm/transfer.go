package rsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// A snapshot is cut by the source at the delivery of the round's last ack: the state
// after exactly the commands ordered before that point. It is the replica's own state
// (applied index, digest, duplicate cache) followed by the application's Snapshot:
//
//	uvarint(len(meta)) | meta (msgpack) | application bytes
//
// It is built in memory at that point (Snapshot runs on the loop, so nothing is applied
// meanwhile) and streamed in chunks of at most Config.ChunkSize by the outbox while the
// loop goes on applying. A replica that takes it buffers every command and read ordered
// after the cut, restores the snapshot once its last chunk arrives, replays the buffer,
// and only then serves.

type snapMeta struct {
	_msgpack struct{} `msgpack:",as_array"`
	Applied  uint64
	Digest   []byte
	Clients  []*clientRecord
}

// transfer is a snapshot this replica is waiting for.
type transfer struct {
	ballot   ballot
	source   Member
	next     uint32
	data     bytes.Buffer
	buffered []ordered // commands and reads ordered after the cut
	held     int       // bytes of data and buffered, against Config.MaxTransfer
}

// hold counts n more bytes held for the transfer; past the bound the replica stops.
func (r *Replica) hold(t *transfer, n int) {
	t.held += n
	if t.held > r.cfg.MaxTransfer && r.fatal == nil {
		r.fatal = fmt.Errorf("%w: %d bytes held (snapshot %d bytes so far, %d commands ordered after its cut)",
			ErrTransferTooLarge, t.held, t.data.Len(), len(t.buffered))
	}
}

// ordered is a command or read kept during a transfer.
type ordered struct {
	kind kind
	m    *cmdMsg
}

var errChunkOrder = errors.New("rsm: snapshot chunk out of order")

func (r *Replica) snapshot() ([]byte, error) {
	meta, err := msgpack.Marshal(&snapMeta{Applied: r.applied, Digest: r.digest, Clients: r.dedup.export()})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(binary.AppendUvarint(nil, uint64(len(meta))))
	buf.Write(meta)
	if err := r.sm.Snapshot(&buf); err != nil {
		return nil, fmt.Errorf("rsm: snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// streamSnapshot cuts the snapshot of epoch b and hands its chunks to the outbox.
func (r *Replica) streamSnapshot(b ballot) {
	data, err := r.snapshot()
	if err != nil {
		r.fatal = err
		return
	}
	var chunks [][]byte
	for i := uint32(0); ; i++ {
		n := min(len(data), r.cfg.ChunkSize)
		last := n == len(data)
		chunks = append(chunks, encode(kindChunk, &chunkMsg{Ballot: b, Index: i, Last: last, Data: data[:n]}))
		data = data[n:]
		if last {
			break
		}
	}
	r.log.Info("rsm: streaming snapshot", "epoch", b.K, "chunks", len(chunks), "applied", r.applied)
	r.out.stream(chunks)
}

// onChunk collects the awaited snapshot; the last chunk restores it.
func (r *Replica) onChunk(from Member, c *chunkMsg) error {
	t := r.await
	if t == nil || t.ballot != c.Ballot || t.source != from {
		return nil
	}
	if c.Index != t.next {
		r.log.Error("rsm: abandoning state transfer", "err", errChunkOrder, "got", c.Index, "want", t.next)
		r.abandonTransfer()
		return nil
	}
	t.next++
	t.data.Write(c.Data)
	r.hold(t, len(c.Data))
	if r.fatal != nil {
		return r.fatal
	}
	if !c.Last {
		return nil
	}
	return r.finishTransfer(t)
}

// abandonTransfer gives up the state transfer in progress, if any (a newer round
// decided another, or the stream broke). The commands and reads ordered after its cut
// were never applied here: their waiters are marked delivered, so that once this replica
// is ready in a later epoch their results are looked up in that epoch's state (reads
// evaluated), as for anything ordered while it could not answer. Dropping them instead
// left their Proposes waiting for ever (found by the replica simulation: a replica whose
// transfer was replaced by a newer round's).
func (r *Replica) abandonTransfer() {
	t := r.await
	if t == nil {
		return
	}
	r.await = nil
	for _, o := range t.buffered {
		if o.kind == kindRead {
			r.onRead(o.m) // not ready: marks it delivered
		} else {
			r.settleCmd(o.m, nil, nil, false)
		}
	}
}

// finishTransfer restores the snapshot, replays what was ordered after the cut, and
// starts serving if the view still allows it.
func (r *Replica) finishTransfer(t *transfer) error {
	if err := r.restore(t.data.Bytes()); err != nil {
		return err
	}
	r.await, r.synced = nil, true
	r.log.Info("rsm: state transfer done", "epoch", t.ballot.K, "applied", r.applied, "replay", len(t.buffered))
	for _, o := range t.buffered {
		r.onOrdered(o.kind, o.m)
	}
	r.settleDelivered()
	return nil
}

func (r *Replica) restore(data []byte) error {
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)-k) {
		return errors.New("rsm: restore: bad snapshot header")
	}
	var meta snapMeta
	if err := msgpack.Unmarshal(data[k:k+int(n)], &meta); err != nil {
		return fmt.Errorf("rsm: restore: %w", err)
	}
	if err := r.sm.Restore(bytes.NewReader(data[k+int(n):])); err != nil {
		return fmt.Errorf("rsm: restore: %w", err)
	}
	r.applied, r.digest = meta.Applied, meta.Digest
	r.dedup.load(meta.Clients)
	return nil
}
