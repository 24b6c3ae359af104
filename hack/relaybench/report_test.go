package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestLadderTable checks the load-ladder table: best of the rounds per rate, added latency
// against the baseline of the same rate, and the highest rate up to which every rate was
// within the bound.
func TestLadderTable(t *testing.T) {
	lines := []string{
		`{"test":"relay","system":"sipws","phase":"peak","transport":"ws","mode":"closed","per_second":20000}`,
		`{"test":"relay","system":"kamailio","phase":"peak","transport":"ws","mode":"closed","per_second":18000}`,
		// 2500/s: sipws twice (the lower p99 counts), kamailio once
		`{"test":"relay","system":"sipws","phase":"ladder","target_rate":2500,"per_second":2500,"p99_ms":3.5,"p99_per_second_median_ms":1,"cpu_cores":{"server":0.5},"machine_busy_cores":0.9}`,
		`{"test":"relay","system":"sipws","phase":"ladder","target_rate":2500,"per_second":2500,"p99_ms":1.5,"p99_per_second_median_ms":1,"cpu_cores":{"server":0.5},"machine_busy_cores":0.9}`,
		`{"test":"relay","system":"kamailio","phase":"ladder","target_rate":2500,"per_second":2500,"p99_ms":1.0,"p99_per_second_median_ms":0.9,"cpu_cores":{"server":0.4},"machine_busy_cores":0.8}`,
		`{"test":"relay","system":"direct","phase":"baseline","for":"ladder","target_rate":2500,"per_second":2500,"p99_ms":0.5,"p99_per_second_median_ms":0.4}`,
		// 5000/s: sipws over the bound, kamailio within but lost one
		`{"test":"relay","system":"sipws","phase":"ladder","target_rate":5000,"per_second":5000,"p99_ms":3.0,"p99_per_second_median_ms":2,"cpu_cores":{"server":0.8},"machine_busy_cores":1.2}`,
		`{"test":"relay","system":"kamailio","phase":"ladder","target_rate":5000,"per_second":5000,"p99_ms":1.2,"lost":1,"p99_per_second_median_ms":1,"cpu_cores":{"server":0.6},"machine_busy_cores":1.1}`,
		`{"test":"relay","system":"direct","phase":"baseline","for":"ladder","target_rate":5000,"per_second":5000,"p99_ms":0.6,"p99_per_second_median_ms":0.5}`,
		// 7500/s: both within again, which does not count after 5000/s was not
		`{"test":"relay","system":"sipws","phase":"ladder","target_rate":7500,"per_second":7500,"p99_ms":1.0,"p99_per_second_median_ms":1,"cpu_cores":{"server":0.9},"machine_busy_cores":1.4}`,
		`{"test":"relay","system":"kamailio","phase":"ladder","target_rate":7500,"per_second":7500,"p99_ms":1.0,"p99_per_second_median_ms":1,"cpu_cores":{"server":0.75},"machine_busy_cores":1.3}`,
		`{"test":"relay","system":"direct","phase":"baseline","for":"ladder","target_rate":7500,"per_second":7500,"p99_ms":0.5,"p99_per_second_median_ms":0.5}`,
	}
	f, err := os.CreateTemp(t.TempDir(), "relay-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Join(lines, "\n") + "\n")
	f.Close()

	out := capture(t, func() error { return runReport([]string{f.Name()}) })
	for _, want := range []string{
		"| 2500 | **1.00** / 0.60, 200, 0.90 | **0.50** / 0.50, 160, 0.80 |",
		"| 5000 | 2.40 / 1.50, 160, 1.20 | 0.60 / 0.50, 120, 1.10 |",
		"| 7500 | **0.50** / 0.50, 120, 1.40 | **0.50** / 0.50, 100, 1.30 |",
		"| highest rate with added p99 ≤ 2 ms | **2500** | **2500** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// capture returns what fn writes to stdout.
func capture(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	ferr := fn()
	os.Stdout = old
	w.Close()
	b := <-done
	if ferr != nil {
		t.Fatal(ferr)
	}
	return string(bytes.TrimSpace(b))
}
