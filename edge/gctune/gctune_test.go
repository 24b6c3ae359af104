package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTarget(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		floor, live uint64
		want        int
	}{
		{"small live heap: goal at the floor", 32 * mib, 4 * mib, 700},
		{"half the floor live: default", 32 * mib, 16 * mib, 100},
		{"above the floor: default", 32 * mib, 100 * mib, 100},
		{"just under half: not below default", 32 * mib, 15 * mib, 113},
		{"tiny heap: bounded", 32 * mib, 1024, maxPercent},
		{"nothing live yet", 32 * mib, 0, maxPercent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Target(tc.floor, tc.live, 100); got != tc.want {
				t.Errorf("Target(%d, %d) = %d, want %d", tc.floor, tc.live, got, tc.want)
			}
		})
	}
}

func TestStartFollowsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	tn := Start(1 << 30) // far above this test's live heap
	if tn == nil {
		t.Fatal("Start returned nil with a floor and no GOGC")
	}
	defer tn.Stop()
	for range 3 {
		runtime.GC()
	}
	if got := tn.Percent(); got <= 100 {
		t.Fatalf("GOGC %d after collections with a tiny live heap, want > 100", got)
	}
	if got := debug.SetGCPercent(-1); got != tn.Percent() {
		t.Errorf("runtime GOGC %d, tuner says %d", got, tn.Percent())
	}
	debug.SetGCPercent(tn.Percent())
	tn.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Stop = %d, want 100", got)
	}
}

func TestStartOffWhenGOGCSet(t *testing.T) {
	t.Setenv("GOGC", "200")
	if tn := Start(1 << 30); tn != nil {
		tn.Stop()
		t.Fatal("Start tuned GOGC although GOGC is set in the environment")
	}
	if tn := Start(0); tn != nil {
		t.Fatal("Start with floor 0 returned a tuner")
	}
}
