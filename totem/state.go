package totem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The ring sequence number is the only state a node persists: a restarted node must
// never propose a ring id it may already have used. It is written atomically (temporary
// file, fsync, rename, fsync of the directory).

const ringSeqFile = "ringseq"

func loadRingSeq(dir string) (uint64, error) {
	if dir == "" {
		return 0, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, ringSeqFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("totem: load ring seq: %w", err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("totem: load ring seq: %s is %d bytes, want 8", filepath.Join(dir, ringSeqFile), len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func storeRingSeq(dir string, seq uint64) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("totem: store ring seq: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ringSeqFile+".*")
	if err != nil {
		return fmt.Errorf("totem: store ring seq: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		tmp.Close()
		return fmt.Errorf("totem: store ring seq: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("totem: store ring seq: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ringSeqFile)); err != nil {
		return fmt.Errorf("totem: store ring seq: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
