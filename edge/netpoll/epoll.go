//go:build linux

// Package netpoll is a thin wrapper over Linux epoll for the edge's connection loops: a few
// pollers watch every upgraded connection, so an idle connection costs a file descriptor and
// a table entry, not a goroutine or a buffer.
package netpoll

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Event bits reported by Wait.
const (
	Readable = uint32(unix.EPOLLIN)
	Writable = uint32(unix.EPOLLOUT)
	Hangup   = uint32(unix.EPOLLRDHUP | unix.EPOLLHUP)
	Error    = uint32(unix.EPOLLERR)
)

// Poller is an epoll instance plus an eventfd that wakes Wait for shutdown.
type Poller struct {
	epfd int
	wake int
	file *os.File        // epfd in the Go runtime's poller, for WaitParked
	rc   syscall.RawConn // of file
}

// Event is one ready file descriptor.
type Event struct {
	FD     int
	Events uint32
}

// New creates a poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	// The epoll descriptor is itself pollable: registered with the Go runtime's poller, a
	// goroutine can wait for it parked instead of blocking a thread in epoll_wait.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll fd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		unix.Close(wake)
		f.Close()
		return nil, fmt.Errorf("epoll fd raw conn: %w", err)
	}
	return &Poller{epfd: epfd, wake: wake, file: f, rc: rc}, nil
}

// WaitParked is Wait without a timeout that parks the goroutine in the Go runtime's poller
// until a descriptor is ready, rather than blocking an OS thread in epoll_wait: a wake-up then
// costs a goroutine switch, not a thread waking and taking a P back from the runtime.
func (p *Poller) WaitParked(raw []unix.EpollEvent, evs []Event) ([]Event, error) {
	var werr error
	err := p.rc.Read(func(uintptr) bool {
		evs, werr = p.Wait(raw, evs, 0)
		return werr != nil || len(evs) > 0
	})
	if werr != nil {
		return evs, werr
	}
	if err != nil {
		return evs, fmt.Errorf("epoll wait: %w", err)
	}
	return evs, nil
}

// Add watches fd edge-triggered for reads, writes and hang-ups. Edge-triggered interest is
// registered once and never modified: the caller drains reads until EAGAIN and flushes writes
// when Writable is reported, so no epoll_ctl call sits on the data path.
func (p *Poller) Add(fd int) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
	}
	return nil
}

// Remove stops watching fd. Closing the fd also removes it; Remove is for callers that keep it.
func (p *Poller) Remove(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del %d: %w", fd, err)
	}
	return nil
}

// ErrClosed is returned by Wait after Close.
var ErrClosed = errors.New("netpoll: poller closed")

// Wait blocks until at least one descriptor is ready (or msec passes; -1 waits forever) and
// appends the ready ones to evs[:0]. raw is scratch space whose length bounds one batch.
func (p *Poller) Wait(raw []unix.EpollEvent, evs []Event, msec int) ([]Event, error) {
	evs = evs[:0]
	for {
		n, err := unix.EpollWait(p.epfd, raw, msec)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return evs, fmt.Errorf("epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			fd := int(raw[i].Fd)
			if fd == p.wake {
				return evs, ErrClosed
			}
			evs = append(evs, Event{FD: fd, Events: raw[i].Events})
		}
		return evs, nil
	}
}

// Close wakes a blocked Wait with ErrClosed. The epoll descriptor itself is released by
// Release once the waiting goroutine has returned.
func (p *Poller) Close() error {
	var one = [8]byte{1}
	if _, err := unix.Write(p.wake, one[:]); err != nil {
		return fmt.Errorf("wake poller: %w", err)
	}
	return nil
}

// Release frees the poller's descriptors; call it after Wait has returned ErrClosed.
// A second call does nothing.
func (p *Poller) Release() {
	if p.epfd < 0 {
		return
	}
	unix.Close(p.wake)
	p.file.Close() // closes epfd
	p.wake, p.epfd = -1, -1
}
