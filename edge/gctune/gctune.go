// Package gctune keeps the garbage collector from running many times a second on a small heap.
//
// A relay with a few MiB of live heap and SIP traffic allocating some KiB per transaction
// meets the default heap goal (twice the live heap) tens of times a second at 10,000
// transactions/s; each cycle takes a P for its mark phase and stops the world twice, which
// shows as latency on a 2-core pod. A heap floor raises GOGC while the live heap is small, so
// the goal is at least the floor; once half the floor is live, the default GOGC applies and
// memory grows with the live heap as usual. GOGC set in the environment wins.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// maxPercent bounds GOGC when the live heap is tiny (at start-up).
const maxPercent = 5000

// Tuner adjusts GOGC after every collection.
type Tuner struct {
	floor   uint64
	base    int
	percent atomic.Int64
	stopped atomic.Bool
	sample  []metrics.Sample
}

// Start tunes GOGC for a heap goal of at least floor bytes. It returns nil (and does nothing)
// when floor is 0 or GOGC is set in the environment.
func Start(floor uint64) *Tuner {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return nil
	}
	t := &Tuner{floor: floor, base: 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.percent.Store(int64(t.base))
	t.adjust()
	t.arm()
	return t
}

// Stop restores the default GOGC.
func (t *Tuner) Stop() {
	if t == nil || t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(t.base)
}

// Percent is the GOGC in force.
func (t *Tuner) Percent() int {
	if t == nil {
		return 0
	}
	return int(t.percent.Load())
}

// Target is the GOGC that makes the heap goal at least floor for a live heap of live bytes.
func Target(floor, live uint64, base int) int {
	if live == 0 {
		return maxPercent
	}
	if live >= floor/2 {
		return base
	}
	p := (floor - live) * 100 / live
	return int(min(max(p, uint64(base)), maxPercent))
}

// arm sets a finalizer on a fresh object: it runs after the next collection, adjusts GOGC
// and arms again, so the tuner follows every cycle without a goroutine or a timer.
func (t *Tuner) arm() {
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

type sentinel struct{ _ [16]byte } // not a tiny allocation, so it is finalized on its own

func (t *Tuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := Target(t.floor, t.sample[0].Value.Uint64(), t.base)
	old := int(t.percent.Load())
	// Small changes are not worth a call into the GC controller.
	if p != old && (p == t.base || p*10 < old*9 || p*10 > old*11) {
		debug.SetGCPercent(p)
		t.percent.Store(int64(p))
	}
}
