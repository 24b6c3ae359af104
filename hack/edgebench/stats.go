package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxSamples bounds the latencies one worker keeps (a 10 s run stays far below it).
const maxSamples = 1 << 20

// latencies collects one worker's samples; merge them after the workers are done.
type latencies []time.Duration

func (l *latencies) add(d time.Duration) {
	if len(*l) < maxSamples {
		*l = append(*l, d)
	}
}

// fill sets the percentile fields of r from the merged samples.
func fill(r *Result, all []latencies) {
	var merged []time.Duration
	for _, l := range all {
		merged = append(merged, l...)
	}
	if len(merged) == 0 {
		return
	}
	slices.Sort(merged)
	q := func(p float64) float64 {
		return ms(merged[int(p*float64(len(merged)-1))])
	}
	r.P50ms, r.P99ms, r.P999ms, r.MaxMs = q(0.5), q(0.99), q(0.999), ms(merged[len(merged)-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procSample is what /proc says about a process at one moment.
type procSample struct {
	rssKiB, hwmKiB int64
	threads, fds   int
	cpuMs          int64 // user + system
}

// clockTick is USER_HZ, which Linux fixes at 100 for the /proc/<pid>/stat times.
const clockTick = 100

func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.rssKiB = n
		case "VmHWM":
			s.hwmKiB = n
		case "Threads":
			s.threads = int(n)
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(fds)
	}
	s.cpuMs, err = procCPUms(pid)
	return s, err
}

// procCPUms is the user+system CPU time of a process in milliseconds.
func procCPUms(pid int) (int64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may contain spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (utime + stime) * 1000 / clockTick, nil
}

// procIO is the count of read-class and write-class system calls of a process
// (syscr + syscw of /proc/<pid>/io); epoll_wait and friends are not in it.
func procIO(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	var n int64
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if k == "syscr" || k == "syscw" {
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
	}
	return n, nil
}

// serverCPU measures the CPU time and I/O system calls a server process spends between begin
// and end; both are far less sensitive to other load on the machine than rates are.
type serverCPU struct {
	pid                  int
	startCPU, startCalls int64
}

func (s *serverCPU) begin() {
	if s.pid > 0 {
		s.startCPU, _ = procCPUms(s.pid)
		s.startCalls, _ = procIO(s.pid)
	}
}

// end fills the server fields of r.
func (s *serverCPU) end(r *Result) {
	if s.pid <= 0 {
		return
	}
	if now, err := procCPUms(s.pid); err == nil {
		r.ServerCPUms = float64(now - s.startCPU)
	}
	if now, err := procIO(s.pid); err == nil {
		r.ServerSyscalls = now - s.startCalls
	}
}

// runSample samples a process' RSS a few times and reports the last and the smallest value:
// the Go runtime returns freed heap to the OS lazily, so a single sample can be high.
func runSample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to sample")
	count := fs.Int("count", 10, "samples")
	every := fs.Duration("every", time.Second, "time between samples")
	server := fs.String("server", "", "label")
	transport := fs.String("transport", "", "label")
	phase := fs.String("phase", "", "label, e.g. idle0 or flows")
	flows := fs.Int64("flows", 0, "open flows at this time (for per-flow figures)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pid <= 0 || *count <= 0 || *count > 1000 {
		return fmt.Errorf("need -pid and 0 < -count <= 1000")
	}
	var last procSample
	minRSS := int64(-1)
	for i := range *count {
		if i > 0 {
			time.Sleep(*every)
		}
		s, err := readProc(*pid)
		if err != nil {
			return err
		}
		if minRSS < 0 || s.rssKiB < minRSS {
			minRSS = s.rssKiB
		}
		last = s
	}
	emit(Result{Test: "rss", Server: *server, Transport: *transport, Phase: *phase, PID: *pid,
		Flows: *flows, RSSKiB: last.rssKiB, RSSMinKiB: minRSS, HWMKiB: last.hwmKiB,
		FDs: last.fds, Threads: last.threads, CPUms: last.cpuMs})
	return nil
}
