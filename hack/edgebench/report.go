package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// run is everything measured for one server and transport.
type run struct {
	server, transport         string
	established, connectFails int64
	dropped                   int64
	connectSecs               float64
	idle0, loaded, late       *Result
	handshakes, classic, rtt  series
	tls                       string
	errors                    []string // "test: count × kind"
}

// runReport reads result lines (files, or stdin) and prints a markdown table with one column
// per server and transport.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var in []io.Reader
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = append(in, f)
	}
	if len(in) == 0 {
		in = append(in, os.Stdin)
	}
	runs := map[string]*run{}
	var order []string
	for _, r := range in {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return fmt.Errorf("bad result line %q: %w", line, err)
			}
			if res.Server == "" || res.Transport == "" {
				continue
			}
			key := res.Server + "/" + res.Transport
			ru := runs[key]
			if ru == nil {
				ru = &run{server: res.Server, transport: res.Transport}
				runs[key] = ru
				order = append(order, key)
			}
			ru.add(res)
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("no results")
	}
	// Transports grouped (ws, then wss), servers in the order they ran.
	slices.SortStableFunc(order, func(a, b string) int {
		return strings.Compare(runs[a].transport, runs[b].transport)
	})
	cols := make([]*run, len(order))
	for i, k := range order {
		cols[i] = runs[k]
	}
	writeTable(os.Stdout, cols)
	return nil
}

func (ru *run) add(r Result) {
	kinds := slices.Sorted(maps.Keys(r.Errors))
	for _, k := range kinds {
		text := k
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		ru.errors = append(ru.errors, fmt.Sprintf("%s (%s): %d × `%s`", r.Test, r.Source, r.Errors[k], text))
	}
	switch r.Test {
	case "connect":
		ru.established += r.OK
		ru.connectFails += r.Failures
		ru.connectSecs = max(ru.connectSecs, r.Seconds)
		if r.TLS != "" {
			ru.tls = r.TLS
		}
	case "hold":
		ru.dropped += r.Dropped
	case "rss":
		switch r.Phase {
		case "idle0":
			ru.idle0 = &r
		case "flows":
			ru.loaded = &r
		case "flows-late":
			ru.late = &r
		}
	case "handshakes":
		if r.Phase == "x25519" {
			ru.classic = append(ru.classic, r)
		} else {
			ru.handshakes = append(ru.handshakes, r)
		}
	case "rtt":
		ru.rtt = append(ru.rtt, r)
	}
}

// series are the repetitions of one rate measurement. On a shared machine single runs vary a lot,
// so the table shows the median run, the range, and CPU per operation over all runs.
type series []Result

// median is the run with the median rate (nil without runs).
func (s series) median() *Result {
	if len(s) == 0 {
		return nil
	}
	sorted := slices.SortedFunc(slices.Values(s), func(a, b Result) int { return cmp.Compare(a.PerSecond, b.PerSecond) })
	return &sorted[len(sorted)/2]
}

// rate is "median (min–max, n runs)".
func (s series) rate() string {
	m := s.median()
	if m == nil {
		return ""
	}
	if len(s) == 1 {
		return fmt.Sprintf("%.0f", m.PerSecond)
	}
	lo, hi := s[0].PerSecond, s[0].PerSecond
	for _, r := range s {
		lo, hi = min(lo, r.PerSecond), max(hi, r.PerSecond)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f, %d runs)", m.PerSecond, lo, hi, len(s))
}

// cpuPerOp is the server's CPU milliseconds per successful operation over all runs.
func (s series) cpuPerOp() (float64, bool) {
	var cpu float64
	var ops int64
	for _, r := range s {
		cpu += r.ServerCPUms
		ops += r.OK
	}
	return cpu / float64(ops), ops > 0 && cpu > 0
}

// syscallsPerOp is the server's read and write system calls per successful operation.
func (s series) syscallsPerOp() string {
	var calls, ops int64
	for _, r := range s {
		calls += r.ServerSyscalls
		ops += r.OK
	}
	if calls == 0 || ops == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", float64(calls)/float64(ops))
}

func (s series) failures() string {
	if len(s) == 0 {
		return ""
	}
	var n int64
	for _, r := range s {
		n += r.Failures
	}
	return fmt.Sprint(n)
}

// perFlowKiB is (RSS with N flows − RSS with none) / N, both the smallest of their samples.
func (ru *run) perFlowKiB() (float64, bool) { return ru.perFlow(ru.loaded) }

func (ru *run) perFlow(loaded *Result) (float64, bool) {
	if ru.idle0 == nil || loaded == nil || loaded.Flows == 0 {
		return 0, false
	}
	return float64(loaded.RSSMinKiB-ru.idle0.RSSMinKiB) / float64(loaded.Flows), true
}

func writeTable(w io.Writer, cols []*run) {
	head := []string{"metric"}
	sep := []string{"---"}
	for _, c := range cols {
		head = append(head, c.server+" "+c.transport)
		sep = append(sep, "---:")
	}
	fmt.Fprintf(w, "| %s |\n| %s |\n", strings.Join(head, " | "), strings.Join(sep, " | "))
	row := func(name string, cell func(*run) string) {
		cells := []string{name}
		for _, c := range cols {
			v := cell(c)
			if v == "" {
				v = "–"
			}
			cells = append(cells, v)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	mib := func(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

	row("**user-space KiB per idle flow**", func(c *run) string {
		if v, ok := c.perFlowKiB(); ok {
			return fmt.Sprintf("**%.2f**", v)
		}
		return ""
	})
	row("same, ≥ 2 min idle (after a forced GC)", func(c *run) string {
		if v, ok := c.perFlow(c.late); ok {
			return fmt.Sprintf("%.2f", v)
		}
		return ""
	})
	row("flows held (server fds; ≥ 2 min later)", func(c *run) string {
		if c.loaded == nil {
			return ""
		}
		if c.late != nil {
			return fmt.Sprintf("%d (%d; %d)", c.loaded.Flows, c.loaded.FDs, c.late.FDs)
		}
		return fmt.Sprintf("%d (%d)", c.loaded.Flows, c.loaded.FDs)
	})
	row("connect failures / dropped while idle", func(c *run) string {
		return fmt.Sprintf("%d / %d", c.connectFails, c.dropped)
	})
	row("flows set up per second (REGISTER + 200 each)", func(c *run) string {
		if c.connectSecs == 0 {
			return ""
		}
		return fmt.Sprintf("%.0f", float64(c.established)/c.connectSecs)
	})
	row("VmRSS, 0 flows (MiB)", func(c *run) string {
		if c.idle0 == nil {
			return ""
		}
		return mib(c.idle0.RSSMinKiB)
	})
	row("VmRSS, N flows, min / last sample (MiB)", func(c *run) string {
		if c.loaded == nil {
			return ""
		}
		return mib(c.loaded.RSSMinKiB) + " / " + mib(c.loaded.RSSKiB)
	})
	row("VmRSS, N flows, ≥ 2 min idle (MiB)", func(c *run) string {
		if c.late == nil {
			return ""
		}
		return mib(c.late.RSSMinKiB)
	})
	row("VmHWM, peak during set-up (MiB)", func(c *run) string {
		if c.loaded == nil {
			return ""
		}
		return mib(c.loaded.HWMKiB)
	})
	row("OS threads with N flows", func(c *run) string {
		if c.loaded == nil {
			return ""
		}
		return fmt.Sprint(c.loaded.Threads)
	})
	row("handshakes per second (median run)", func(c *run) string { return c.handshakes.rate() })
	row("handshake p50 / p99 of the median run (ms)", func(c *run) string {
		m := c.handshakes.median()
		if m == nil {
			return ""
		}
		return fmt.Sprintf("%.2f / %.2f", m.P50ms, m.P99ms)
	})
	row("server CPU per handshake (ms)", func(c *run) string {
		if v, ok := c.handshakes.cpuPerOp(); ok {
			return fmt.Sprintf("%.3f", v)
		}
		return ""
	})
	row("server read+write syscalls per handshake", func(c *run) string { return c.handshakes.syscallsPerOp() })
	row("wss, X25519 only: handshakes per second", func(c *run) string { return c.classic.rate() })
	row("wss, X25519 only: server CPU per handshake (ms)", func(c *run) string {
		if v, ok := c.classic.cpuPerOp(); ok {
			return fmt.Sprintf("%.3f", v)
		}
		return ""
	})
	row("handshake failures (all runs)", func(c *run) string { return c.handshakes.failures() })
	row("round trips per second (median run)", func(c *run) string { return c.rtt.rate() })
	row("round trip p50 / p99 / p99.9 of the median run (ms)", func(c *run) string {
		m := c.rtt.median()
		if m == nil {
			return ""
		}
		return fmt.Sprintf("%.2f / %.2f / %.2f", m.P50ms, m.P99ms, m.P999ms)
	})
	row("server CPU per round trip (µs)", func(c *run) string {
		if v, ok := c.rtt.cpuPerOp(); ok {
			return fmt.Sprintf("%.1f", 1000*v)
		}
		return ""
	})
	row("server read+write syscalls per round trip", func(c *run) string { return c.rtt.syscallsPerOp() })
	row("round trip failures (all runs)", func(c *run) string { return c.rtt.failures() })
	row("TLS", func(c *run) string { return c.tls })

	// Side by side ratios, per transport.
	fmt.Fprintln(w)
	for _, t := range []string{"ws", "wss"} {
		var edge, base *run
		for _, c := range cols {
			if c.transport == t && c.server == "sipws" {
				edge = c
			}
			if c.transport == t && c.server == "baseline" {
				base = c
			}
		}
		if edge == nil || base == nil {
			continue
		}
		e, ok1 := edge.perFlowKiB()
		b, ok2 := base.perFlowKiB()
		if ok1 && ok2 && e > 0 {
			fmt.Fprintf(w, "- %s: the baseline uses %.1f× the memory per idle flow of sipws (%.2f vs %.2f KiB).\n", t, b/e, b, e)
		}
	}
	fmt.Fprintln(w, "- Targets for sipws: ≤ 2 KiB per idle WS flow, ≤ 4 KiB per idle WSS flow.")
	for _, c := range cols {
		if len(c.errors) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nErrors, %s %s:\n\n", c.server, c.transport)
		for _, e := range c.errors {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}
