package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// USER_HZ: Linux reports /proc times in 1/100 s.
const clockTick = 100

// procTimes returns utime+stime (ticks) and the parent pid of a process.
func procTimes(pid int) (ticks int64, ppid int, err error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces: count fields after its closing parenthesis.
	// Then: state(3) ppid(4) ... utime(14) stime(15).
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, ppid, nil
}

// processTree is pid and all its descendants (Kamailio forks its workers; timeout(1) wraps
// every server).
func processTree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, err := procTimes(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeTicks sums the CPU ticks of pids (exited ones count as 0).
func treeTicks(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		if t, _, err := procTimes(p); err == nil {
			sum += t
		}
	}
	return sum
}

// machineTicks reads the busy and total ticks of all CPUs from /proc/stat.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	// cpu user nice system idle iowait irq softirq steal guest guest_nice
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		total += v
		if i != 4 && i != 5 {
			busy += v
		}
	}
	return busy, total
}

// cpuMeter measures CPU use over a window: named process trees, this process, the machine.
type cpuMeter struct {
	names      []string
	trees      [][]int
	start      []int64
	self0      int64
	busy0      int64
	t0         time.Time
	selfPID    int
	haveWindow bool
}

func newCPUMeter(c cpuFlag) *cpuMeter {
	m := &cpuMeter{selfPID: os.Getpid()}
	for _, e := range c {
		m.names = append(m.names, e.name)
		m.trees = append(m.trees, processTree(e.pid))
	}
	return m
}

func (m *cpuMeter) begin() {
	m.start = m.start[:0]
	for _, t := range m.trees {
		m.start = append(m.start, treeTicks(t))
	}
	m.self0, _, _ = procTimes(m.selfPID)
	m.busy0, _ = machineTicks()
	m.t0 = time.Now()
	m.haveWindow = true
}

func (m *cpuMeter) end(r *Result) {
	if !m.haveWindow {
		return
	}
	secs := time.Since(m.t0).Seconds()
	cores := func(ticks int64) float64 { return round3(float64(ticks) / clockTick / secs) }
	var listed float64
	if len(m.trees) > 0 {
		r.CPU = map[string]float64{}
	}
	for i, t := range m.trees {
		c := cores(treeTicks(t) - m.start[i])
		r.CPU[m.names[i]] = c
		listed += c
	}
	self, _, _ := procTimes(m.selfPID)
	r.ClientCores = cores(self - m.self0)
	busy, _ := machineTicks()
	r.BusyCores = cores(busy - m.busy0)
	r.OtherCores = round3(max(0, r.BusyCores-listed-r.ClientCores))
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// runQuiet waits until the machine's busy CPU, minus the listed processes, stays under
// -max cores for one -interval, or -timeout passed. It prints what it saw and never fails:
// the run goes on, and every result line records the other load it ran next to.
func runQuiet(args []string) error {
	fs := flag.NewFlagSet("quiet", flag.ExitOnError)
	maxCores := fs.Float64("max", 0.2, "cores other processes may use")
	timeout := fs.Duration("timeout", 10*time.Second, "give up waiting after this long")
	interval := fs.Duration("interval", time.Second, "sampling interval")
	var cpu cpuFlag
	fs.Var(&cpu, "exclude", "NAME=PID of a process tree not to count (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	start := time.Now()
	for {
		m := newCPUMeter(cpu)
		m.begin()
		time.Sleep(*interval)
		var r Result
		m.end(&r)
		other := r.OtherCores // includes this process, which sleeps
		if other <= *maxCores {
			log.Printf("quiet: other processes use %.2f cores (waited %s)", other, time.Since(start).Round(time.Second))
			return nil
		}
		if time.Since(start) >= *timeout {
			log.Printf("not quiet after %s: other processes use %.2f cores; going on", *timeout, other)
			return nil
		}
	}
}

// runFreePort prints -n distinct ports that are free on 127.0.0.1 for both TCP and UDP.
func runFreePort(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ExitOnError)
	n := fs.Int("n", 1, "how many")
	if err := parse(fs, args); err != nil {
		return err
	}
	var ports []string
	var hold []func()
	defer func() {
		for _, h := range hold {
			h()
		}
	}()
	for tries := 0; len(ports) < *n && tries < 1000; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.Close()
			continue
		}
		hold = append(hold, func() { l.Close(); u.Close() })
		ports = append(ports, strconv.Itoa(port))
	}
	if len(ports) < *n {
		return fmt.Errorf("found only %d free ports", len(ports))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
