package totem

import "testing"

func TestSendAheadKeepsAFewVisitsQueued(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.validate()
	rc := cfg.Membership.Ring
	tests := []struct {
		name   string
		bytes  int
		budget int
		want   int
	}{
		{"four visits' worth", 4 << 20, 16 << 10, 4 * rc.MaxMessages},
		{"fewer when that is too many bytes", 768 << 10, 16 << 10, 48},
		{"never fewer than two visits", 1, 16 << 10, 2 * rc.MaxMessages},
	}
	cfg.Membership.Ring.SendQueueMax = 20
	if got := sendAhead(cfg, 1400); got != 20 {
		t.Errorf("sendAhead with SendQueueMax 20 = %d, want 20: never more than the ring takes", got)
	}
	cfg.Membership.Ring.SendQueueMax = rc.SendQueueMax
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
