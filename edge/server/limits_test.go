package server

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipws/sipws/edge/config"
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

func TestConnAdmitRequests(t *testing.T) {
	const ms = int64(time.Millisecond)
	t0 := time.Unix(1000, 0).UnixNano()
	type step struct {
		at   int64 // ns after t0
		ok   bool
		wait time.Duration // when refused: time to the next token
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"burst, then one per second", 1, 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, time.Second},
			{500 * ms, false, 500 * time.Millisecond}, {1000 * ms, true, 0}, {1000 * ms, false, time.Second},
		}},
		{"refill never passes the burst", 10, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 100 * time.Millisecond},
			{3600_000 * ms, true, 0}, {3600_000 * ms, true, 0}, {3600_000 * ms, true, 0}, {3600_000 * ms, false, 100 * time.Millisecond},
		}},
		// Frames are timed by their reader; an earlier reading must not drain the bucket.
		{"clock reading from the past", 1, 1, []step{
			{2000 * ms, true, 0}, {1000 * ms, false, time.Second},
		}},
		{"fractional rate", 0.5, 1, []step{
			{0, true, 0}, {1000 * ms, false, time.Second}, {2000 * ms, true, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{}
			lim := &config.Limits{MessagesPerSecond: tc.rate, MessageBurst: tc.burst}
			for i, s := range tc.steps {
				wait, ok := c.admit(lim, t0+s.at)
				if ok != s.ok {
					t.Fatalf("step %d at %v: admitted %v, want %v", i, time.Duration(s.at), ok, s.ok)
				}
				if d := wait - s.wait; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("step %d: wait %v, want %v", i, wait, s.wait)
				}
			}
		})
	}
}
