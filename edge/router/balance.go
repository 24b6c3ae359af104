package router

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sipmsg"
	"github.com/sipws/sipws/edge/siptransport"
)

// target is one upstream SIP server of a route.
type target struct {
	raw       string
	uri       sipmsg.URI
	transport string // udp, tcp, tls
	weight    int
	up        atomic.Bool

	mu       sync.Mutex
	okRun    int
	failRun  int
	lastAddr netip.AddrPort
}

// upstream is the compiled form of one route's upstream.
type upstream struct {
	route   config.Route
	targets []*target
	rr      atomic.Uint64
}

func newUpstream(rt config.Route) (*upstream, error) {
	u := &upstream{route: rt}
	for _, t := range rt.Upstream.Targets {
		uri, err := sipmsg.ParseURI(t.URI)
		if err != nil {
			return nil, fmt.Errorf("route %s: target %q: %w", rt.Name, t.URI, err)
		}
		tr, _ := uri.Params.Get("transport")
		tr = strings.ToLower(tr)
		switch {
		case uri.Scheme == "sips":
			tr = "tls"
		case tr == "":
			tr = "udp"
		case tr != "udp" && tr != "tcp" && tr != "tls":
			return nil, fmt.Errorf("route %s: target %q: transport %q not supported upstream", rt.Name, t.URI, tr)
		}
		tg := &target{raw: t.URI, uri: uri, transport: tr, weight: max(t.Weight, 1)}
		tg.up.Store(true)
		u.targets = append(u.targets, tg)
	}
	return u, nil
}

// candidates orders the targets for one request: the balancing policy's choice first, then the
// rest for failover; healthy targets before unhealthy ones (which are tried only when no target
// is healthy).
func (u *upstream) candidates(m *sipmsg.Msg) []*target {
	n := len(u.targets)
	out := make([]*target, 0, n)
	switch u.route.Upstream.Balance {
	case config.BalanceCallID:
		out = rendezvous(u.targets, m.CallID())
	case config.BalanceAOR:
		out = rendezvous(u.targets, aorKey(m))
	case config.BalanceWeighted:
		out = append(out, u.targets...)
		weightedShuffle(out)
	default: // round robin
		start := int(u.rr.Add(1) % uint64(n))
		for i := range n {
			out = append(out, u.targets[(start+i)%n])
		}
	}
	// Stable partition: up targets first.
	slices.SortStableFunc(out, func(a, b *target) int {
		au, bu := a.up.Load(), b.up.Load()
		switch {
		case au == bu:
			return 0
		case au:
			return -1
		}
		return 1
	})
	return out
}

// aorKey is the address of record a request is about: To for REGISTER, From otherwise.
func aorKey(m *sipmsg.Msg) string {
	h := "From"
	if m.Method == "REGISTER" {
		h = "To"
	}
	v, _ := m.Get(h)
	na, err := sipmsg.ParseNameAddr(v)
	if err != nil {
		return v
	}
	return strings.ToLower(na.URI.User + "@" + na.URI.Host)
}

// rendezvous orders targets by highest random weight for key, so a key keeps its target while
// the set changes, and removing one target moves only its keys.
func rendezvous(ts []*target, key string) []*target {
	type scored struct {
		t     *target
		score float64
	}
	s := make([]scored, len(ts))
	for i, t := range ts {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(t.raw))
		// Weighted rendezvous: -w / ln(u) with u in (0,1).
		u := (float64(h.Sum64()>>11) + 0.5) / (1 << 53)
		s[i] = scored{t, -float64(t.weight) / math.Log(u)}
	}
	slices.SortFunc(s, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	out := make([]*target, len(s))
	for i := range s {
		out[i] = s[i].t
	}
	return out
}

// weightedShuffle orders targets randomly with probability proportional to weight
// (Efraimidis–Spirakis).
func weightedShuffle(ts []*target) {
	keys := make(map[*target]float64, len(ts))
	for _, t := range ts {
		keys[t] = math.Pow(rand.Float64(), 1/float64(t.weight))
	}
	slices.SortFunc(ts, func(a, b *target) int {
		switch {
		case keys[a] > keys[b]:
			return -1
		case keys[a] < keys[b]:
			return 1
		}
		return 0
	})
}

// resolve returns the address and transport to send to for a target.
func (r *Router) resolve(ctx context.Context, t *target) (siptransport.Target, error) {
	port := t.uri.Port
	host := strings.Trim(t.uri.Host, "[]")
	ts, err := r.tp.Resolve(ctx, t.transport, host, port)
	if err != nil {
		return siptransport.Target{}, fmt.Errorf("resolve %s: %w", t.raw, err)
	}
	if len(ts) == 0 {
		return siptransport.Target{}, fmt.Errorf("resolve %s: %w", t.raw, siptransport.ErrNoTargets)
	}
	t.mu.Lock()
	t.lastAddr = ts[0].Addr
	t.mu.Unlock()
	r.allow(ts[0].Addr)
	return ts[0], nil
}

// health records a probe or request outcome; thresholds flip the target's state.
func (t *target) health(ok bool, hc config.HealthCheck) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.okRun++
		t.failRun = 0
		if !t.up.Load() && t.okRun >= hc.UpAfter {
			t.up.Store(true)
			return true
		}
		return false
	}
	t.failRun++
	t.okRun = 0
	if t.up.Load() && t.failRun >= hc.DownAfter {
		t.up.Store(false)
		return true
	}
	return false
}
