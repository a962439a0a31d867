package simnet

import (
	"math"
	"testing"
	"time"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative loss", Config{Link: LinkConfig{Loss: -0.1}}},
		{"loss above 1", Config{Link: LinkConfig{Loss: 1.1}}},
		{"NaN duplicate", Config{Link: LinkConfig{Duplicate: math.NaN()}}},
		{"reorder above 1", Config{Link: LinkConfig{Reorder: 2}}},
		{"negative DelayMin", Config{Link: LinkConfig{DelayMin: -time.Millisecond}}},
		{"negative Jitter", Config{Link: LinkConfig{Jitter: -1}}},
		{"absurd ReorderDelayMax", Config{Link: LinkConfig{ReorderDelayMax: 2 * time.Hour}}},
		{"negative QueueCap", Config{QueueCap: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(1, tt.cfg)
		})
	}
}

func TestDelayMaxSumsEveryDelaySource(t *testing.T) {
	lc := LinkConfig{DelayMin: time.Millisecond, Jitter: 2 * time.Millisecond, ReorderDelayMax: 3 * time.Millisecond}
	if got, want := lc.DelayMax(), (1+2*JitterCapFactor+3)*time.Millisecond; got != want {
		t.Errorf("DelayMax = %v, want %v", got, want)
	}
}
