package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// runReport reads result lines (files, or stdin) and prints a markdown table with one column
// per system: the closed-loop peak, the open loop at half of it, the direct-UDP baseline at the
// same rate and the latency the relay adds over it. The "direct" system's peak is the UDP
// server's own capacity.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	serverName := fs.String("server-cpu", "server", "name of the -cpu entry that is the relay under test")
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
	type sys struct {
		peak, half, base *Result
		same             *Result   // open loop at the reference system's half-peak rate
		peaks, halfP99s  []float64 // every round, in order
	}
	systems := map[string]*sys{}
	var order []string
	// the load ladder: each system's open loop by offered rate; "" holds the direct baselines
	ladder := map[string]map[float64]*Result{}
	ladderRung := func(name string) map[float64]*Result {
		if ladder[name] == nil {
			ladder[name] = map[float64]*Result{}
		}
		return ladder[name]
	}
	get := func(name string) *sys {
		s := systems[name]
		if s == nil {
			s = &sys{}
			systems[name] = s
			order = append(order, name)
		}
		return s
	}
	for _, r := range in {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return fmt.Errorf("bad result line %q: %w", line, err)
			}
			if res.Test != "relay" {
				continue
			}
			// With several rounds, the least disturbed run counts: the highest peak, the
			// lowest p99 in the open loops.
			lowerP99 := func(old *Result) bool { return old == nil || res.P99ms < old.P99ms }
			switch res.Phase {
			case "peak":
				s := get(res.System)
				s.peaks = append(s.peaks, res.PerSecond)
				if s.peak == nil || res.PerSecond > s.peak.PerSecond {
					s.peak = &res
				}
			case "half":
				s := get(res.System)
				s.halfP99s = append(s.halfP99s, res.P99ms)
				if lowerP99(s.half) {
					s.half = &res
				}
			case "same":
				if s := get(res.System); lowerP99(s.same) {
					s.same = &res
				}
			case "ladder":
				if m := ladderRung(res.System); lowerP99(m[res.TargetRate]) {
					m[res.TargetRate] = &res
				}
			case "baseline":
				if res.For == "ladder" {
					if m := ladderRung(""); lowerP99(m[res.TargetRate]) {
						m[res.TargetRate] = &res
					}
					break
				}
				if res.For == "" {
					break
				}
				if s := get(res.For); lowerP99(s.base) {
					s.base = &res
				}
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("no results")
	}
	// "direct" (the UDP server alone) goes last.
	for i, n := range order {
		if n == "direct" && i != len(order)-1 {
			order = append(append(order[:i:i], order[i+1:]...), n)
			break
		}
	}

	dash := "–"
	f0 := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	lat := func(r *Result) string {
		if r == nil {
			return dash
		}
		return fmt.Sprintf("%.2f / %.2f / %.2f", r.P50ms, r.P99ms, r.P999ms)
	}
	server := func(r *Result) float64 {
		if r == nil || r.CPU == nil {
			return 0
		}
		if v, ok := r.CPU[*serverName]; ok {
			return v
		}
		return r.CPU["sipp"] // the direct runs: the UDP server is the system
	}
	cell := func(r *Result, f func(*Result) string) string {
		if r == nil {
			return dash
		}
		return f(r)
	}
	// Latency at one offered rate for every system: the reference's half-peak rate (the script
	// runs the other systems' "same" phase at it), since each system's own half peak differs.
	const sameRef = "kamailio"
	sameOf := func(s *sys) *Result {
		if s == systems[sameRef] {
			return s.half
		}
		return s.same
	}
	haveSame := false
	for _, s := range systems {
		haveSame = haveSame || s.same != nil
	}
	rows := []struct {
		name string
		f    func(s *sys) string
	}{
		{"**peak** (closed loop): REGISTER → 200 per s", func(s *sys) string {
			return cell(s.peak, func(r *Result) string { return "**" + f0(r.PerSecond) + "**" })
		}},
		{"latency at peak p50 / p99 / p99.9 (ms)", func(s *sys) string { return lat(s.peak) }},
		{"lost / non-200 at peak", func(s *sys) string {
			return cell(s.peak, func(r *Result) string { return fmt.Sprintf("%d / %d", r.Lost, r.Failures) })
		}},
		{"relay CPU at peak (cores)", func(s *sys) string { return cell(s.peak, func(r *Result) string { return f2(server(r)) }) }},
		{"relay CPU per transaction at peak (µs)", func(s *sys) string {
			return cell(s.peak, func(r *Result) string { return perTx(server(r), r.PerSecond) })
		}},
		{"sipp (UAS) / load client / other processes CPU at peak (cores)", func(s *sys) string {
			return cell(s.peak, func(r *Result) string {
				return fmt.Sprintf("%s / %s / %s", f2(r.CPU["sipp"]), f2(r.ClientCores), f2(r.OtherCores))
			})
		}},
		{"whole machine busy at peak (cores)", func(s *sys) string {
			return cell(s.peak, func(r *Result) string { return f2(r.BusyCores) })
		}},
		{"**half peak** (open loop): offered / answered per s", func(s *sys) string {
			return cell(s.half, func(r *Result) string { return f0(r.TargetRate) + " / " + f0(r.PerSecond) })
		}},
		{"latency at half peak p50 / p99 / p99.9 (ms)", func(s *sys) string {
			return cell(s.half, func(r *Result) string { return "**" + lat(r) + "**" })
		}},
		{"direct UDP to sipp at the same rate p50 / p99 / p99.9 (ms)", func(s *sys) string { return lat(s.base) }},
		{"**added** p50 / p99 at half peak (ms)", func(s *sys) string {
			if s.half == nil || s.base == nil {
				return dash
			}
			return fmt.Sprintf("**%.2f / %.2f**", s.half.P50ms-s.base.P50ms, s.half.P99ms-s.base.P99ms)
		}},
		{"p99 of the median second at half peak: relay / direct / **added** (ms)", func(s *sys) string {
			if s.half == nil || s.base == nil {
				return dash
			}
			return fmt.Sprintf("%.2f / %.2f / **%.2f**", s.half.P99SecMedianMs, s.base.P99SecMedianMs,
				s.half.P99SecMedianMs-s.base.P99SecMedianMs)
		}},
		{"**same rate**: open loop at " + label(sameRef) + "'s half-peak rate, per s", func(s *sys) string {
			if r := sameOf(s); r != nil {
				return f0(r.TargetRate)
			}
			return dash
		}},
		{"latency at that rate p50 / p99 / p99.9 (ms)", func(s *sys) string {
			return cell(sameOf(s), func(r *Result) string { return lat(r) })
		}},
		{"**added** p50 / p99 at that rate (ms), against the reference's direct baseline", func(s *sys) string {
			r, ref := sameOf(s), systems[sameRef]
			if r == nil || ref == nil || ref.base == nil {
				return dash
			}
			return fmt.Sprintf("**%.2f / %.2f**", r.P50ms-ref.base.P50ms, r.P99ms-ref.base.P99ms)
		}},
		{"lost / non-200 at half peak", func(s *sys) string {
			return cell(s.half, func(r *Result) string { return fmt.Sprintf("%d / %d", r.Lost, r.Failures) })
		}},
		{"relay CPU at half peak (cores)", func(s *sys) string { return cell(s.half, func(r *Result) string { return f2(server(r)) }) }},
		{"relay CPU per transaction at half peak (µs)", func(s *sys) string {
			return cell(s.half, func(r *Result) string { return perTx(server(r), r.PerSecond) })
		}},
		{"load client / other processes CPU at half peak (cores)", func(s *sys) string {
			return cell(s.half, func(r *Result) string { return f2(r.ClientCores) + " / " + f2(r.OtherCores) })
		}},
		{"sends > 1 ms behind schedule at half peak", func(s *sys) string {
			return cell(s.half, func(r *Result) string {
				return fmt.Sprintf("%.1f%%", 100*float64(r.Late)/max(1, float64(r.Sent)))
			})
		}},
	}
	if !haveSame {
		for i := 0; i < len(rows); i++ {
			if strings.Contains(rows[i].name, "same rate") || strings.Contains(rows[i].name, "at that rate") {
				rows = append(rows[:i], rows[i+1:]...)
				i--
			}
		}
	}
	list := func(vs []float64, format string) string {
		if len(vs) == 0 {
			return dash
		}
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = fmt.Sprintf(format, v)
		}
		return strings.Join(parts, ", ")
	}
	var rounds bool
	for _, n := range order {
		rounds = rounds || len(systems[n].peaks) > 1 || len(systems[n].halfP99s) > 1
	}
	if rounds {
		rows = append(rows[:1], append([]struct {
			name string
			f    func(s *sys) string
		}{{"peak of every round (per s)", func(s *sys) string { return list(s.peaks, "%.0f") }}}, rows[1:]...)...)
		for i, row := range rows {
			if strings.HasPrefix(row.name, "latency at half peak") {
				rows = append(rows[:i+1], append([]struct {
					name string
					f    func(s *sys) string
				}{{"p99 at half peak of every round (ms)", func(s *sys) string { return list(s.halfP99s, "%.2f") }}}, rows[i+1:]...)...)
				break
			}
		}
	}
	cols := make([]string, len(order))
	for i, n := range order {
		cols[i] = label(n)
	}
	printHeader("", cols)
	for _, row := range rows {
		fmt.Printf("| %s |", row.name)
		for _, n := range order {
			fmt.Printf(" %s |", row.f(systems[n]))
		}
		fmt.Println()
	}
	var lsys []string
	for _, n := range order {
		if ladder[n] != nil {
			lsys = append(lsys, n)
		}
	}
	var lrates []float64
	for n, rg := range ladder {
		for rate := range rg {
			if n != "" && !slices.Contains(lrates, rate) {
				lrates = append(lrates, rate)
			}
		}
	}
	slices.Sort(lrates)
	printLadder(lsys, lrates, func(sys string, rate float64) (r, base *Result) {
		return ladder[sys][rate], ladder[""][rate]
	}, *serverName)
	return nil
}

// addedLimitMs is the bound on the latency a relay adds (p99).
const addedLimitMs = 2

// printLadder prints the table of added latency against offered load: for each rate and
// system the added p99 of the whole window and of the median second, the relay's CPU per
// transaction and how busy the whole machine was; then the highest rate up to which each
// system stayed within the bound (a rate within it above one that was not does not count).
func printLadder(systems []string, rates []float64, get func(sys string, rate float64) (r, base *Result), server string) {
	if len(systems) == 0 || len(rates) == 0 {
		return
	}
	fmt.Println()
	cols := make([]string, len(systems))
	for i, n := range systems {
		cols[i] = label(n) + ": added p99 / median second's p99 (ms), relay CPU per tx (µs), machine busy (cores)"
	}
	printHeader("offered REGISTER/s", cols)
	// best: the highest rate up to which every rate measured was within the bound
	best, broken := make([]float64, len(systems)), make([]bool, len(systems))
	for _, rate := range rates {
		fmt.Printf("| %.0f |", rate)
		for i, n := range systems {
			r, base := get(n, rate)
			if r == nil || base == nil {
				fmt.Print(" – |")
				continue
			}
			added, addedSec := r.P99ms-base.P99ms, r.P99SecMedianMs-base.P99SecMedianMs
			within := added <= addedLimitMs && r.Lost == 0 && r.Failures == 0
			if !within {
				broken[i] = true
			} else if !broken[i] {
				best[i] = rate
			}
			mark := ""
			if within {
				mark = "**"
			}
			fmt.Printf(" %s%.2f%s / %.2f, %s, %.2f |", mark, added, mark, addedSec, perTx(r.CPU[server], r.PerSecond), r.BusyCores)
		}
		fmt.Println()
	}
	fmt.Printf("| highest rate with added p99 ≤ %d ms |", addedLimitMs)
	for i := range systems {
		if best[i] == 0 {
			fmt.Print(" none |")
		} else {
			fmt.Printf(" **%.0f** |", best[i])
		}
	}
	fmt.Println()
}

// printHeader prints a markdown table's header row and separator.
func printHeader(first string, cols []string) {
	fmt.Print(strings.TrimSpace("| "+first) + " |")
	for _, c := range cols {
		fmt.Printf(" %s |", c)
	}
	fmt.Print("\n| --- |")
	for range cols {
		fmt.Print(" --- |")
	}
	fmt.Println()
}

func perTx(cores, perSecond float64) string {
	if perSecond <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", cores/perSecond*1e6)
}

func label(system string) string {
	switch system {
	case "sipws":
		return "sipws local (WS → edge → NATS → router → UDP)"
	case "sipws-nats-tcp":
		return "sipws local, NATS over loopback TCP"
	case "sipws-split":
		return "sipws edge + nats-server + sipws router (3 processes, loopback TCP)"
	case "kamailio":
		return "Kamailio 5.6 WS → UDP, t_relay (tm)"
	case "kamailio-stateless":
		return "Kamailio 5.6 WS → UDP, forward (stateless)"
	case "direct":
		return "sipp alone (UDP, no relay)"
	}
	return system
}
