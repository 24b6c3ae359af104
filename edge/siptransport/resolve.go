package siptransport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Target is one address to try for a SIP URI, in the order Resolve returns.
type Target struct {
	Transport        string
	Addr             netip.AddrPort
	Priority, Weight uint16 // from the SRV record; zero otherwise
	// Host is the URI host the target was resolved from, lower case without
	// a trailing dot (empty for an IP literal). SendTarget verifies TLS
	// certificates against it (RFC 5922 §4).
	Host string
}

// maxCacheEntries bounds the resolve cache; hosts may come from messages.
const maxCacheEntries = 4096

type resolveKey struct {
	transport string
	host      string // lower case, no trailing dot
	port      int
}

// resolveEntry is a cached (or in-flight) lookup. Addresses are cached, the
// order is not: weighted SRV selection runs on every Resolve.
type resolveEntry struct {
	done    chan struct{} // closed when the lookup finished
	expires time.Time
	groups  []srvGroup // SRV targets, or one group with the A/AAAA addresses
	err     error
}

type srvGroup struct {
	priority, weight uint16
	port             uint16
	addrs            []netip.Addr
}

// Resolve turns a SIP URI's host, port (0 = none) and transport into
// ordered targets (RFC 3263 §4.2, without NAPTR):
//   - an IP literal is itself, on port or 5060 (5061 for tls);
//   - a name with an explicit port resolves with A/AAAA;
//   - a name without a port resolves with SRV _sip._udp, _sip._tcp or
//     _sips._tcp, ordered by priority and weighted-random within a priority
//     (RFC 2782), each SRV target expanded to its A/AAAA addresses; without
//     SRV records it falls back to A/AAAA on the default port.
//
// Lookups are cached for ResolveCacheTTL (DNS TTLs are not visible through
// the Resolver interface); concurrent lookups of the same name share one.
// Failures are not cached.
func (l *Layer) Resolve(ctx context.Context, transport, host string, port int) ([]Target, error) {
	transport = canonTransport(transport)
	switch transport {
	case UDP, TCP, TLS:
	default:
		return nil, fmt.Errorf("siptransport: resolve %q: %w %q", host, ErrUnknownTransport, transport)
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("siptransport: resolve %q: port %d out of range", host, port)
	}
	defPort := uint16(5060)
	if transport == TLS {
		defPort = 5061
	}
	h := host
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		p := uint16(port)
		if p == 0 {
			p = defPort
		}
		return []Target{{Transport: transport, Addr: netip.AddrPortFrom(ip.Unmap(), p)}}, nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return nil, fmt.Errorf("siptransport: resolve: empty host: %w", ErrNoTargets)
	}
	e, err := l.lookup(ctx, resolveKey{transport, h, port}, defPort)
	if err != nil {
		return nil, fmt.Errorf("siptransport: resolve %s %q: %w", transport, host, err)
	}
	return orderTargets(transport, h, e.groups), nil
}

// lookup returns the cache entry for key, resolving it when missing or
// expired.
func (l *Layer) lookup(ctx context.Context, key resolveKey, defPort uint16) (*resolveEntry, error) {
	ttl := l.cfg.ResolveCacheTTL
	l.cacheMu.Lock()
	e := l.cache[key]
	if e != nil {
		select {
		case <-e.done:
			if e.err == nil && l.now().Before(e.expires) {
				l.cacheMu.Unlock()
				return e, nil
			}
			e = nil // expired or failed: look up again
		default: // in flight: share it
		}
	}
	if e == nil {
		e = &resolveEntry{done: make(chan struct{})}
		if ttl > 0 {
			l.evictLocked()
			l.cache[key] = e
		}
		// The lookup runs detached from this caller's ctx so that callers
		// sharing it are not failed by one caller's cancellation; it is
		// bounded by DialTimeout and Close.
		l.mu.Lock()
		ok := l.spawnLocked(func() { l.runLookup(key, defPort, e) })
		l.mu.Unlock()
		if !ok {
			if l.cache[key] == e {
				delete(l.cache, key)
			}
			l.cacheMu.Unlock()
			return nil, ErrClosed
		}
	}
	l.cacheMu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e, nil
}

func (l *Layer) runLookup(key resolveKey, defPort uint16, e *resolveEntry) {
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.DialTimeout)
	defer cancel()
	e.groups, e.err = l.lookupGroups(ctx, key, defPort)
	e.expires = l.now().Add(l.cfg.ResolveCacheTTL)
	if e.err != nil {
		l.cacheMu.Lock()
		if l.cache[key] == e {
			delete(l.cache, key)
		}
		l.cacheMu.Unlock()
	}
	close(e.done)
}

// evictLocked makes room for one entry: expired entries first, then any.
func (l *Layer) evictLocked() {
	if len(l.cache) < maxCacheEntries {
		return
	}
	now := l.now()
	for k, e := range l.cache {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(l.cache, k)
			}
		default:
		}
	}
	for k := range l.cache {
		if len(l.cache) < maxCacheEntries {
			break
		}
		delete(l.cache, k)
	}
}

func (l *Layer) lookupGroups(ctx context.Context, key resolveKey, defPort uint16) ([]srvGroup, error) {
	if key.port != 0 {
		addrs, err := l.lookupIP(ctx, key.host)
		if err != nil {
			return nil, err
		}
		return []srvGroup{{port: uint16(key.port), addrs: addrs}}, nil
	}
	service, proto := "sip", "udp"
	switch key.transport {
	case TCP:
		proto = "tcp"
	case TLS:
		service, proto = "sips", "tcp"
	}
	_, srvs, srvErr := l.res.LookupSRV(ctx, service, proto, key.host)
	if srvErr == nil && len(srvs) > 0 {
		return l.expandSRV(ctx, srvs)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("srv _%s._%s: %w", service, proto, srvErr)
	}
	// No SRV record (or a failing SRV lookup): RFC 3263 §4.2 falls back to
	// A/AAAA on the default port.
	addrs, err := l.lookupIP(ctx, key.host)
	if err != nil {
		if srvErr != nil && !isNotFound(srvErr) {
			return nil, fmt.Errorf("%w (after srv _%s._%s: %w)", err, service, proto, srvErr)
		}
		return nil, err
	}
	return []srvGroup{{port: defPort, addrs: addrs}}, nil
}

func (l *Layer) expandSRV(ctx context.Context, srvs []*net.SRV) ([]srvGroup, error) {
	groups := make([]srvGroup, 0, len(srvs))
	var firstErr error
	for _, s := range srvs {
		if s == nil {
			continue
		}
		name := strings.TrimSuffix(s.Target, ".")
		if name == "" {
			continue // "." : the service is decidedly not available here (RFC 2782)
		}
		var addrs []netip.Addr
		if ip, err := netip.ParseAddr(name); err == nil {
			addrs = []netip.Addr{ip.Unmap()}
		} else if addrs, err = l.lookupIP(ctx, name); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue // the other targets may still resolve
		}
		groups = append(groups, srvGroup{priority: s.Priority, weight: s.Weight, port: s.Port, addrs: addrs})
	}
	if len(groups) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, fmt.Errorf("srv: %w: service not available", ErrNoTargets)
	}
	return groups, nil
}

func (l *Layer) lookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := l.res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", host, err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lookup %s: %w", host, ErrNoTargets)
	}
	return out, nil
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// orderTargets orders the groups by priority, weighted-random within a
// priority (RFC 2782), and expands each into its addresses.
func orderTargets(transport, host string, groups []srvGroup) []Target {
	n := 0
	for _, g := range groups {
		n += len(g.addrs)
	}
	out := make([]Target, 0, n)
	order := make([]srvGroup, len(groups))
	copy(order, groups)
	slices.SortStableFunc(order, func(a, b srvGroup) int { return cmp.Compare(a.priority, b.priority) })
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && order[j].priority == order[i].priority {
			j++
		}
		weightedShuffle(order[i:j])
		i = j
	}
	for _, g := range order {
		for _, a := range g.addrs {
			out = append(out, Target{
				Transport: transport,
				Addr:      netip.AddrPortFrom(a, g.port),
				Priority:  g.priority,
				Weight:    g.weight,
				Host:      host,
			})
		}
	}
	return out
}

// weightedShuffle orders the records of one priority per RFC 2782: put them
// in random order with the zero-weight ones first, then repeatedly pick a
// random number in [0, sum of remaining weights] and take the first record
// whose running weight sum reaches it.
func weightedShuffle(g []srvGroup) {
	if len(g) < 2 {
		return
	}
	rand.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
	slices.SortStableFunc(g, func(a, b srvGroup) int { return cmp.Compare(min(a.weight, 1), min(b.weight, 1)) })
	for i := 0; i < len(g)-1; i++ {
		sum := 0
		for _, r := range g[i:] {
			sum += int(r.weight)
		}
		pick := rand.IntN(sum + 1)
		run := 0
		for k := i; k < len(g); k++ {
			run += int(g[k].weight)
			if run >= pick {
				// Move the pick to position i, keeping the others' order.
				r := g[k]
				copy(g[i+1:k+1], g[i:k])
				g[i] = r
				break
			}
		}
	}
}
