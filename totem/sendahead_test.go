package totem

import "testing"

func TestSendAheadBoundsTheRingQueueInBytes(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.validate()
	rc := cfg.Membership.Ring
	tests := []struct {
		name   string
		bytes  int
		budget int
		want   int
	}{
		{"16 KiB datagrams share 4 MiB", 4 << 20, 16 << 10, 256},
		{"one-frame datagrams get more of them", 4 << 20, 1400, (4 << 20) / 1400},
		{"never fewer than two visits", 1, 16 << 10, 2 * rc.MaxMessages},
		{"never more than the ring takes", 1 << 40, 1400, rc.SendQueueMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.SendQueueBytes = tt.bytes
			if got := sendAhead(c, tt.budget); got != tt.want {
				t.Errorf("sendAhead(%d bytes, budget %d) = %d, want %d", tt.bytes, tt.budget, got, tt.want)
			}
		})
	}
}
