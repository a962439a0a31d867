package totem

import "testing"

func TestSendAheadKeepsAFewVisitsQueued(t *testing.T) {
	cfg := DefaultConfig(1)
	cfg.validate()
	rc := cfg.Membership.Ring // window 50, 17 per visit
	tests := []struct {
		name    string
		bytes   int
		budget  int
		members int
		want    int
	}{
		{"four visits of 17 on a small ring", 4 << 20, 16 << 10, 3, 4 * rc.MaxMessages},
		{"alone, or before the first ring", 4 << 20, 16 << 10, 0, 4 * rc.MaxMessages},
		{"four visits of a share of the window on a large ring", 4 << 20, 16 << 10, 32, 4 * 2},
		{"sixteen members share 50 as 4 each", 4 << 20, 16 << 10, 16, 4 * 4},
		{"fewer when that is too many bytes", 768 << 10, 16 << 10, 3, 48},
		{"never fewer than two visits", 1, 16 << 10, 3, 2 * rc.MaxMessages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.SendQueueBytes = tt.bytes
			if got := sendAhead(c, tt.budget, tt.members); got != tt.want {
				t.Errorf("sendAhead(%d bytes, budget %d, %d members) = %d, want %d", tt.bytes, tt.budget, tt.members, got, tt.want)
			}
		})
	}
	cfg.Membership.Ring.SendQueueMax = 20
	if got := sendAhead(cfg, 1400, 3); got != 20 {
		t.Errorf("sendAhead with SendQueueMax 20 = %d, want 20: never more than the ring takes", got)
	}
}
