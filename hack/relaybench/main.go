// Command relaybench measures SIP transactions (REGISTER → 200) relayed from WebSocket clients
// to a UDP SIP server: sipws (WS → edge → NATS → router → UDP) and Kamailio's websocket module
// (WS → Kamailio → UDP), and, as the baseline, the same REGISTERs sent straight to the UDP
// server. hack/bench-relay.sh drives it; see "Relay" in docs/benchmarks.md.
//
//	relaybench load   -url ws://127.0.0.1:8080/ | -udp 127.0.0.1:5090  -conns 200 [-rate R] ...
//	relaybench quiet  wait until the machine is quiet (other processes' CPU)
//	relaybench freeport -n N   free ports on 127.0.0.1 (TCP and UDP)
//	relaybench report results.jsonl   markdown table
//
// load keeps -conns flows (WebSocket connections, or UDP sockets), each with its own Call-ID and
// an incrementing CSeq. Without -rate it runs a closed loop: each flow sends a REGISTER, waits
// for its 200 and sends the next one at once, which finds the peak rate. With -rate it runs an
// open loop: each flow sends on its own fixed schedule (rate/conns per second, phases spread
// evenly), whatever the answers do, which gives the latency at a given offered load. Latency is
// from just before the write of a REGISTER to the read of its 200. It prints one JSON line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

var commands = map[string]struct {
	run  func(args []string) error
	help string
}{
	"load":     {runLoad, "REGISTER load over WebSocket or UDP, closed or open loop; one JSON line"},
	"quiet":    {runQuiet, "wait until other processes use little CPU"},
	"freeport": {runFreePort, "print free ports on 127.0.0.1 (free for TCP and UDP)"},
	"report":   {runReport, "turn result lines into the markdown table"},
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	if len(os.Args) < 2 || commands[os.Args[1]].run == nil {
		fmt.Fprintln(os.Stderr, "usage: relaybench <command> [flags]\n\ncommands:")
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, commands[n].help)
		}
		os.Exit(2)
	}
	name := os.Args[1]
	log.SetPrefix("relaybench " + name + " ")
	if err := commands[name].run(os.Args[2:]); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

// Result is one measured run.
type Result struct {
	Test      string `json:"test"`            // "relay"
	System    string `json:"system"`          // sipws, kamailio, kamailio-stateless, direct
	Phase     string `json:"phase,omitempty"` // peak, half, profile, baseline
	For       string `json:"for,omitempty"`   // baseline: the system whose half rate it ran at
	Transport string `json:"transport"`       // ws or udp
	Mode      string `json:"mode"`            // closed or open

	Conns      int     `json:"conns"`
	TargetRate float64 `json:"target_rate,omitempty"` // open loop: offered REGISTERs/s
	Seconds    float64 `json:"seconds"`
	Warmup     float64 `json:"warmup_seconds"`

	Sent      int64   `json:"sent"`                 // REGISTERs sent in the window
	OK        int64   `json:"ok"`                   // of those, answered 200
	Failures  int64   `json:"failures"`             // answered with another final status
	Lost      int64   `json:"lost"`                 // not answered in time
	Late      int64   `json:"late_sends,omitempty"` // open loop: sent > 1 ms after schedule
	PerSecond float64 `json:"per_second"`           // OK / Seconds
	SentPerS  float64 `json:"sent_per_second"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	// P99SecMedianMs is the median over the seconds of the window of each second's p99.
	P99SecMedianMs float64 `json:"p99_per_second_median_ms"`

	// CPU over the measured window, in cores (1.0 = one core busy all the time).
	CPU         map[string]float64 `json:"cpu_cores,omitempty"` // per -cpu name (process trees)
	ClientCores float64            `json:"client_cores"`        // this load client
	BusyCores   float64            `json:"machine_busy_cores"`  // whole machine, /proc/stat
	OtherCores  float64            `json:"other_cores"`         // busy minus the above

	FirstError string `json:"first_error,omitempty"`
}

var stdoutMu sync.Mutex

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// watchdog ends the process after lifetime, or when its parent went away, so that nothing
// outlives a killed orchestrator.
func watchdog(lifetime time.Duration) {
	ppid := os.Getppid()
	deadline := time.Now().Add(lifetime)
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != ppid {
				log.Printf("parent %d is gone, exiting", ppid)
				os.Exit(3)
			}
			if time.Now().After(deadline) {
				log.Printf("lifetime %s is over, exiting", lifetime)
				os.Exit(4)
			}
		}
	}()
}

// firstError keeps the first error and a count.
type firstError struct {
	mu    sync.Mutex
	first string
	n     int
}

func (f *firstError) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == "" {
		f.first = err.Error()
	}
	if f.n <= 5 {
		log.Printf("error: %v", err)
	}
}

func (f *firstError) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 1 {
		return fmt.Sprintf("%s (and %d more)", f.first, f.n-1)
	}
	return f.first
}

// cpuFlag is a repeatable -cpu name=pid.
type cpuFlag []struct {
	name string
	pid  int
}

func (c *cpuFlag) String() string { return fmt.Sprint(*c) }
func (c *cpuFlag) Set(s string) error {
	name, pid, ok := strings.Cut(s, "=")
	var p int
	if _, err := fmt.Sscan(pid, &p); !ok || err != nil || p <= 0 || name == "" {
		return fmt.Errorf("want NAME=PID, not %q", s)
	}
	*c = append(*c, struct {
		name string
		pid  int
	}{name, p})
	return nil
}
