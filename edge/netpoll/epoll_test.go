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
