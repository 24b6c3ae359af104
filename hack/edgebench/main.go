// Command edgebench measures a SIP-over-WebSocket edge: memory per idle flow, handshakes per
// second and round trips through NATS. It also contains the goroutine-per-connection baseline
// server and the NATS responder that stands in for routers and a registrar. hack/bench-edge.sh
// drives it; every subcommand prints one JSON line per result on stdout and progress on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

var commands = map[string]struct {
	run  func(args []string) error
	help string
}{
	"responder":  {runResponder, "answer every SIP request published by an edge with a 200 OK"},
	"baseline":   {runBaseline, "goroutine-per-connection WS/WSS server relaying over NATS"},
	"clients":    {runClients, "open and hold many registered flows"},
	"handshakes": {runHandshakes, "open, upgrade and close connections in a loop"},
	"rtt":        {runRTT, "REGISTER/200 round trips through edge, NATS and responder"},
	"probe":      {runProbe, "wait until one flow can register (exit status says)"},
	"sample":     {runSample, "sample a process' RSS, fds and CPU from /proc"},
	"freeport":   {runFreePort, "print free TCP ports on 127.0.0.1"},
	"report":     {runReport, "turn result lines into a markdown table"},
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	if len(os.Args) < 2 || commands[os.Args[1]].run == nil {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	log.SetPrefix(name + " ")
	if err := commands[name].run(os.Args[2:]); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: edgebench <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, commands[n].help)
	}
}

// Result is the one schema of every JSON line, so that report can read them all back.
type Result struct {
	Test      string `json:"test"`
	Server    string `json:"server,omitempty"`
	Transport string `json:"transport,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Source    string `json:"source,omitempty"`

	OK        int64   `json:"ok"`
	Failures  int64   `json:"failures"`
	Dropped   int64   `json:"dropped,omitempty"`
	Conns     int     `json:"conns,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"`
	P50ms     float64 `json:"p50_ms,omitempty"`
	P99ms     float64 `json:"p99_ms,omitempty"`
	P999ms    float64 `json:"p999_ms,omitempty"`
	MaxMs     float64 `json:"max_ms,omitempty"`
	TLS       string  `json:"tls,omitempty"`

	// Process samples (sample, and the server's CPU in handshakes and rtt).
	PID         int     `json:"pid,omitempty"`
	Flows       int64   `json:"flows,omitempty"`
	RSSKiB      int64   `json:"rss_kib,omitempty"`     // last sample
	RSSMinKiB   int64   `json:"rss_min_kib,omitempty"` // smallest sample
	HWMKiB      int64   `json:"hwm_kib,omitempty"`
	FDs         int     `json:"fds,omitempty"`
	Threads     int     `json:"threads,omitempty"`
	CPUms       int64   `json:"cpu_ms,omitempty"`
	ServerCPUms float64 `json:"server_cpu_ms,omitempty"`
	// Read- and write-class system calls of the server in the same window.
	ServerSyscalls int64 `json:"server_syscalls,omitempty"`

	FirstError string           `json:"first_error,omitempty"`
	Errors     map[string]int64 `json:"errors,omitempty"` // count by kind
}

var stdoutMu sync.Mutex

// emit prints one result line; lines from concurrent goroutines never interleave.
func emit(r Result) {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // Result has only plain fields
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// say prints a plain status line (READY ...) for the orchestrator.
func say(format string, args ...any) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// common holds the flags every long-running subcommand shares.
type common struct {
	server   string
	lifetime time.Duration
}

func (c *common) register(fs *flag.FlagSet, lifetime time.Duration) {
	fs.StringVar(&c.server, "server", "", "label put into result lines (e.g. sipws, baseline)")
	fs.DurationVar(&c.lifetime, "lifetime", lifetime, "exit after this long whatever happens (0: derived from the run's duration)")
}

// watchdog ends the process when its lifetime is over or its parent went away, so that nothing
// outlives a killed orchestrator.
func (c *common) watchdog() {
	ppid := os.Getppid()
	deadline := time.Now().Add(c.lifetime)
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != ppid {
				log.Printf("parent %d is gone, exiting", ppid)
				os.Exit(3)
			}
			if time.Now().After(deadline) {
				log.Printf("lifetime %s is over, exiting", c.lifetime)
				os.Exit(4)
			}
		}
	}()
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

// firstError keeps the first error, and counts errors by kind (addresses blanked out) so that
// failures are reported whole without flooding stderr.
type firstError struct {
	mu    sync.Mutex
	first string
	kinds map[string]int64
	n     int
}

var addrRE = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

func (f *firstError) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	msg := err.Error()
	if f.first == "" {
		f.first = msg
	}
	if f.n <= 5 {
		log.Printf("error: %v", err)
	}
	if f.kinds == nil {
		f.kinds = make(map[string]int64)
	}
	kind := addrRE.ReplaceAllString(msg, "ADDR")
	if _, ok := f.kinds[kind]; ok || len(f.kinds) < 20 {
		f.kinds[kind]++
	} else {
		f.kinds["other"]++
	}
}

func (f *firstError) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// byKind returns the error counts by kind (nil when there was none).
func (f *firstError) byKind() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.kinds)
}

// splitList splits a comma separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
