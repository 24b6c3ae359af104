package server

import (
	"net/netip"
	"sync"
	"time"
)

// ipLimits tracks open connections and a handshake token bucket per source address.
type ipLimits struct {
	mu sync.Mutex
	m  map[netip.Addr]*ipState
}

type ipState struct {
	conns  int
	tokens float64
	last   time.Time
}

func newIPLimits() *ipLimits { return &ipLimits{m: make(map[netip.Addr]*ipState)} }

// admit takes a handshake token for ip and reserves a connection slot; it returns the refusal
// reason, or "" when admitted (the caller must release the slot later).
func (l *ipLimits) admit(ip netip.Addr, maxConns int, rate float64, burst int, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[ip]
	if st == nil {
		st = &ipState{tokens: float64(burst), last: now}
		l.m[ip] = st
	}
	// Handshakes reach this lock in any order: time only moves forward here, or a late
	// caller with an earlier clock reading would drain the bucket.
	if el := now.Sub(st.last); el > 0 {
		st.tokens = min(float64(burst), st.tokens+el.Seconds()*rate)
		st.last = now
	}
	if st.tokens < 1 {
		return hsIPRate
	}
	st.tokens--
	if st.conns >= maxConns {
		return hsIPLimit
	}
	st.conns++
	return ""
}

func (l *ipLimits) release(ip netip.Addr) {
	l.mu.Lock()
	if st := l.m[ip]; st != nil && st.conns > 0 {
		st.conns--
	}
	l.mu.Unlock()
}

// sweep forgets addresses with no connections whose bucket has been idle long enough to be full.
func (l *ipLimits) sweep(now time.Time) {
	l.mu.Lock()
	for ip, st := range l.m {
		if st.conns == 0 && now.Sub(st.last) > time.Minute {
			delete(l.m, ip)
		}
	}
	l.mu.Unlock()
}
