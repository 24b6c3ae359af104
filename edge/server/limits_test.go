package server

import (
	"net/netip"
	"testing"
	"time"
)

func TestIPLimitsAdmit(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		calls []time.Duration // offsets from t0, in lock order
		max   int
		rate  float64
		burst int
		want  []string
	}{
		{"burst then rate", []time.Duration{0, 0, 0, time.Second}, 10, 1, 2, []string{"", "", hsIPRate, ""}},
		{"connection limit", []time.Duration{0, 0, 0}, 2, 100, 100, []string{"", "", hsIPLimit}},
		// A handshake that took its clock reading earlier but reached the lock later must not
		// drain the bucket (time never moves backwards).
		{"out of order clock", []time.Duration{time.Second, 0, 0}, 10, 1, 2, []string{"", "", hsIPRate}},
		{"out of order, large rate", []time.Duration{2 * time.Second, 0, time.Second}, 10, 1e6, 100, []string{"", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newIPLimits()
			for i, off := range tc.calls {
				if got := l.admit(ip, tc.max, tc.rate, tc.burst, t0.Add(off)); got != tc.want[i] {
					t.Fatalf("call %d at +%v = %q, want %q", i, off, got, tc.want[i])
				}
			}
		})
	}
}
