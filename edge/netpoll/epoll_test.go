//go:build linux

package netpoll

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadableWritableClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := p.Add(fds[0]); err != nil {
		t.Fatal(err)
	}
	raw := make([]unix.EpollEvent, 8)
	// A fresh socket is writable, not readable.
	evs, err := p.Wait(raw, nil, 1000)
	if err != nil || len(evs) != 1 || evs[0].FD != fds[0] || evs[0].Events&Writable == 0 || evs[0].Events&Readable != 0 {
		t.Fatalf("first wait = %+v, %v; want writable only", evs, err)
	}
	// Edge-triggered: nothing new, nothing reported.
	if evs, _ = p.Wait(raw, evs, 50); len(evs) != 0 {
		t.Fatalf("no edge, got %+v", evs)
	}
	if _, err := unix.Write(fds[1], []byte("hi")); err != nil {
		t.Fatal(err)
	}
	evs, err = p.Wait(raw, evs, 1000)
	if err != nil || len(evs) != 1 || evs[0].Events&Readable == 0 {
		t.Fatalf("after write = %+v, %v; want readable", evs, err)
	}
	unix.Close(fds[1])
	evs, err = p.Wait(raw, evs, 1000)
	if err != nil || len(evs) != 1 || evs[0].Events&Hangup == 0 {
		t.Fatalf("after peer close = %+v, %v; want hangup", evs, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(raw, nil, -1)
		done <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	p.Release()
}

// WaitParked parks in the Go runtime's poller: it returns events that arrive while it waits,
// returns at once for events already pending, and returns ErrClosed after Close.
func TestWaitParked(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	raw := make([]unix.EpollEvent, 8)
	if err := p.Add(fds[0]); err != nil {
		t.Fatal(err)
	}
	// Pending before the call: the writable edge of the fresh socket.
	evs, err := p.WaitParked(raw, nil)
	if err != nil || len(evs) != 1 || evs[0].Events&Writable == 0 {
		t.Fatalf("pending = %+v, %v; want writable", evs, err)
	}
	type result struct {
		evs []Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		evs, err := p.WaitParked(raw, nil)
		got <- result{evs, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("WaitParked returned %+v, %v with nothing ready", r.evs, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := unix.Write(fds[1], []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || len(r.evs) != 1 || r.evs[0].FD != fds[0] || r.evs[0].Events&Readable == 0 {
			t.Fatalf("after write = %+v, %v; want readable", r.evs, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitParked did not return for a readable socket")
	}
	go func() {
		evs, err := p.WaitParked(raw, nil)
		got <- result{evs, err}
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !errors.Is(r.err, ErrClosed) {
			t.Fatalf("WaitParked after Close = %v, want ErrClosed", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitParked did not return after Close")
	}
}
