package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// flowStats is what one flow counted; only its own goroutines write it, and it is read after
// they are done. Counts and samples are of REGISTERs sent inside the measured window.
type flowStats struct {
	lat                      []time.Duration
	at                       []int32 // second of the window each sample was sent in
	sent, ok, failed, late   int64
	sentTotal, answeredTotal atomic.Int64 // open loop: every send and answer, window or not
	_                        [64]byte     // keep flows' counters off each other's cache lines
}

// ringBits sizes the per-flow table of send times of the open loop (outstanding requests).
const ringBits = 12

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "ws:// URL of the WebSocket server (sipws or Kamailio)")
	udpAddr := fs.String("udp", "", "host:port of a UDP SIP server to send to directly (the baseline)")
	conns := fs.Int("conns", 200, "flows: WebSocket connections or UDP sockets")
	rate := fs.Float64("rate", 0, "open loop: REGISTERs per second over all flows (0: closed loop)")
	duration := fs.Duration("duration", 20*time.Second, "measured time")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured load before the measured time")
	timeout := fs.Duration("timeout", 2*time.Second, "a REGISTER not answered within this is lost (the closed loop then goes on)")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "bound on connect, upgrade and the first REGISTER of a flow")
	system := fs.String("system", "", "label: the system measured (sipws, kamailio, direct...)")
	phase := fs.String("phase", "", "label: peak, half, baseline, profile")
	forSys := fs.String("for", "", "label: the system a baseline run belongs to")
	logTL := fs.Bool("timeline", false, "also log p50/p99/max of each second of the window (stderr)")
	lifetime := fs.Duration("lifetime", 0, "exit after this long whatever happens (default: warmup+duration+1m)")
	var cpu cpuFlag
	fs.Var(&cpu, "cpu", "NAME=PID: report the CPU of this process and its descendants (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*url == "") == (*udpAddr == "") {
		return errors.New("need exactly one of -url and -udp")
	}
	if *conns < 1 || *rate < 0 || *duration <= 0 {
		return errors.New("need -conns >= 1, -rate >= 0, -duration > 0")
	}
	if *lifetime == 0 {
		*lifetime = *warmup + *duration + *dialTimeout + *timeout + time.Minute
	}
	watchdog(*lifetime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r := Result{Test: "relay", System: *system, Phase: *phase, For: *forSys, Transport: "ws", Mode: "closed",
		Conns: *conns, TargetRate: *rate, Seconds: duration.Seconds(), Warmup: warmup.Seconds()}
	if *udpAddr != "" {
		r.Transport = "udp"
	}
	if *rate > 0 {
		r.Mode = "open"
	}

	// Open every flow and get one REGISTER answered through it, so that set-up stays out of
	// the measurement and a broken path fails here.
	var errs firstError
	flows := make([]flowConn, *conns)
	tpls := make([]*registerTemplate, *conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range flows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var fc flowConn
			var err error
			if *udpAddr != "" {
				fc, err = dialUDP(*udpAddr)
			} else {
				dctx, cancel := context.WithTimeout(ctx, *dialTimeout)
				fc, err = dialWS(dctx, *url)
				cancel()
			}
			if err != nil {
				errs.add(fmt.Errorf("flow %d: %w", i, err))
				return
			}
			tr, sentBy := fc.via()
			tpl := newRegister(i, tr, sentBy)
			if err := firstRegister(fc, tpl, *dialTimeout); err != nil {
				errs.add(fmt.Errorf("flow %d: first REGISTER: %w", i, err))
				fc.Close()
				return
			}
			flows[i], tpls[i] = fc, tpl
		}()
	}
	wg.Wait()
	var open []int
	for i, f := range flows {
		if f != nil {
			open = append(open, i)
			defer f.Close()
		}
	}
	if len(open) < *conns {
		r.FirstError = errs.String()
		emit(r)
		return fmt.Errorf("%d of %d flows failed to open: %s", *conns-len(open), *conns, errs.String())
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	stats := make([]flowStats, *conns)
	base := time.Now()
	mstart := base.Add(*warmup)
	mend := mstart.Add(*duration)
	for i, fc := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if *rate == 0 {
				closedLoop(ctx, fc, tpls[i], &stats[i], mstart, mend, *timeout, &errs)
				return
			}
			interval := time.Duration(float64(time.Second) * float64(*conns) / *rate)
			phase := time.Duration(int64(interval) * int64(i) / int64(*conns))
			openLoop(ctx, fc, tpls[i], &stats[i], base, base.Add(phase), interval, mstart, mend, *timeout, &errs)
		}()
	}
	meter := newCPUMeter(cpu)
	sleepCtx(ctx, time.Until(mstart))
	meter.begin()
	sleepCtx(ctx, time.Until(mend))
	meter.end(&r)
	wg.Wait()

	all := make([]time.Duration, 0, 1024)
	for i := range stats {
		s := &stats[i]
		r.Sent += s.sent
		r.OK += s.ok
		r.Failures += s.failed
		r.Late += s.late
		all = append(all, s.lat...)
	}
	r.Lost = max(0, r.Sent-r.OK-r.Failures)
	r.PerSecond = round3(float64(r.OK) / duration.Seconds())
	r.SentPerS = round3(float64(r.Sent) / duration.Seconds())
	r.P99SecMedianMs = timeline(stats, int(duration.Seconds()+0.999), *logTL)
	slices.Sort(all)
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		k := int(math.Ceil(p*float64(len(all)))) - 1
		return ms(all[max(0, min(k, len(all)-1))])
	}
	r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs = q(0.5), q(0.9), q(0.99), q(0.999), q(1)
	r.FirstError = errs.String()
	emit(r)
	log.Printf("%s %s %s: %.0f/s ok (sent %.0f/s), p50 %.2f ms p99 %.2f ms p99.9 %.2f ms, lost %d, failures %d, cpu %v, client %.2f, other %.2f cores",
		r.System, r.Mode, r.Transport, r.PerSecond, r.SentPerS, r.P50ms, r.P99ms, r.P999ms, r.Lost, r.Failures, r.CPU, r.ClientCores, r.OtherCores)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// firstRegister sends CSeq 1 and waits for its 200.
func firstRegister(fc flowConn, tpl *registerTemplate, timeout time.Duration) error {
	fc.SetReadDeadline(time.Now().Add(timeout))
	defer fc.SetReadDeadline(time.Time{})
	if err := fc.send(tpl.build(nil, 1)); err != nil {
		return err
	}
	for {
		msg, err := fc.recv()
		if err != nil {
			return err
		}
		status, cseq, ok := parseResponse(msg)
		if !ok || cseq != 1 || status < 200 {
			continue
		}
		if status != 200 {
			line, _, _ := cutLine(msg)
			return fmt.Errorf("answered %q", line)
		}
		return nil
	}
}

func cutLine(b []byte) (string, []byte, bool) {
	for i := range b {
		if b[i] == '\r' || b[i] == '\n' {
			return string(b[:i]), b[i:], true
		}
	}
	return string(b), nil, false
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// closedLoop: send a REGISTER, wait for its final answer (or the timeout), repeat until mend.
func closedLoop(ctx context.Context, fc flowConn, tpl *registerTemplate, st *flowStats, mstart, mend time.Time,
	timeout time.Duration, errs *firstError) {
	var buf []byte
	var deadline time.Time
	for cseq := uint32(2); ctx.Err() == nil; cseq++ {
		buf = tpl.build(buf[:0], cseq)
		t0 := time.Now()
		if !t0.Before(mend) {
			return
		}
		in := !t0.Before(mstart)
		// Move the read deadline only when less than half the timeout is left: a REGISTER is
		// declared lost after between timeout/2 and timeout, without a timer reset per message.
		if deadline.Sub(t0) < timeout/2 {
			deadline = t0.Add(timeout)
			fc.SetReadDeadline(deadline)
		}
		if in {
			st.sent++
		}
		if err := fc.send(buf); err != nil {
			errs.add(fmt.Errorf("send: %w", err))
			return
		}
		for {
			msg, err := fc.recv()
			if err != nil {
				if !isTimeout(err) {
					errs.add(fmt.Errorf("receive: %w", err))
					return
				}
				deadline = time.Time{} // lost: the next REGISTER gets a fresh deadline
				break
			}
			status, cs, ok := parseResponse(msg)
			if !ok || cs != cseq || status < 200 {
				continue // provisional, or a late answer to a lost REGISTER
			}
			if in {
				if status == 200 {
					st.ok++
					st.lat = append(st.lat, time.Since(t0))
					st.at = append(st.at, int32(t0.Sub(mstart)/time.Second))
				} else {
					st.failed++
					errs.add(fmt.Errorf("answered %d", status))
				}
			}
			break
		}
	}
}

// openLoop sends on a fixed schedule (first at first, then every interval) until mend, and
// reads answers meanwhile; it returns once every REGISTER is answered or timeout after the
// last send.
func openLoop(ctx context.Context, fc flowConn, tpl *registerTemplate, st *flowStats, base, first time.Time,
	interval time.Duration, mstart, mend time.Time, timeout time.Duration, errs *firstError) {
	var sendAt [1 << ringBits]atomic.Int64 // ns since base, 0: none outstanding
	var done atomic.Bool
	inWindow := func(t time.Time) bool { return !t.Before(mstart) && t.Before(mend) }

	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { // reader
		defer rwg.Done()
		for {
			msg, err := fc.recv()
			if err != nil {
				if !isTimeout(err) && !done.Load() {
					errs.add(fmt.Errorf("receive: %w", err))
				}
				return
			}
			now := time.Now()
			status, cs, ok := parseResponse(msg)
			if !ok || status < 200 {
				continue
			}
			slot := &sendAt[cs&(1<<ringBits-1)]
			ns := slot.Swap(0)
			if ns == 0 {
				continue // unknown or already answered
			}
			t := base.Add(time.Duration(ns))
			if inWindow(t) {
				if status == 200 {
					st.ok++
					st.lat = append(st.lat, now.Sub(t))
					st.at = append(st.at, int32(t.Sub(mstart)/time.Second))
				} else {
					st.failed++
					errs.add(fmt.Errorf("answered %d", status))
				}
			}
			n := st.answeredTotal.Add(1)
			if done.Load() && n == st.sentTotal.Load() {
				return
			}
		}
	}()

	var buf []byte
	next := first
	for cseq := uint32(2); next.Before(mend) && ctx.Err() == nil; cseq++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		buf = tpl.build(buf[:0], cseq)
		now := time.Now()
		in := inWindow(now)
		if in && now.Sub(next) > time.Millisecond {
			st.late++
		}
		ns := int64(now.Sub(base))
		if ns == 0 {
			ns = 1
		}
		sendAt[cseq&(1<<ringBits-1)].Store(ns)
		st.sentTotal.Add(1)
		if in {
			st.sent++
		}
		if err := fc.send(buf); err != nil {
			errs.add(fmt.Errorf("send: %w", err))
			break
		}
		next = next.Add(interval)
	}
	done.Store(true)
	if st.answeredTotal.Load() == st.sentTotal.Load() {
		fc.SetReadDeadline(time.Now())
	} else {
		fc.SetReadDeadline(time.Now().Add(timeout))
	}
	rwg.Wait()
}

// timeline returns the median over the seconds of the window of each second's p99: unlike the
// p99 of the whole window it barely moves when other processes take the CPUs for a few seconds.
// With show, it logs each second's percentiles, to tell steady queueing from bursts.
func timeline(stats []flowStats, secs int, show bool) float64 {
	per := make([][]time.Duration, secs)
	for i := range stats {
		for j, d := range stats[i].lat {
			if j < len(stats[i].at) {
				if k := int(stats[i].at[j]); k >= 0 && k < secs {
					per[k] = append(per[k], d)
				}
			}
		}
	}
	var p99s []float64
	for k, l := range per {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		p99 := ms(l[min(len(l)-1, int(math.Ceil(0.99*float64(len(l))))-1)])
		p99s = append(p99s, p99)
		if show {
			log.Printf("second %2d: %6d answered, p50 %7.2f ms, p99 %7.2f ms, max %7.2f ms", k, len(l),
				ms(l[(len(l)-1)/2]), p99, ms(l[len(l)-1]))
		}
	}
	if len(p99s) == 0 {
		return 0
	}
	slices.Sort(p99s)
	return p99s[(len(p99s)-1)/2]
}
