package siptransport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from maps and counts lookups.
type fakeResolver struct {
	srv     map[string][]*net.SRV // key "_sip._udp.name"
	ips     map[string][]netip.Addr
	srvErr  error // returned for names without SRV records (default: not found)
	srvN    atomic.Int32
	ipN     atomic.Int32
	mu      sync.Mutex
	queries []string
	delay   time.Duration
}

func (f *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.srvN.Add(1)
	q := "_" + service + "._" + proto + "." + name
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
	if r, ok := f.srv[q]; ok {
		return q, r, nil
	}
	if f.srvErr != nil {
		return "", nil, f.srvErr
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.ipN.Add(1)
	if network != "ip" {
		return nil, errors.New("unexpected network " + network)
	}
	if a, ok := f.ips[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func ips(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func newResolverLayer(t *testing.T, r *fakeResolver) *Layer {
	t.Helper()
	l, err := New(Config{Resolver: r}, func(Packet) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func addrs(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Addr.String()
	}
	return out
}

func TestResolve(t *testing.T) {
	r := &fakeResolver{
		srv: map[string][]*net.SRV{
			"_sip._udp.pbx.test": {
				{Target: "backup.pbx.test.", Port: 5080, Priority: 20, Weight: 0},
				{Target: "a.pbx.test.", Port: 5070, Priority: 10, Weight: 100},
			},
			"_sip._tcp.pbx.test":  {{Target: "a.pbx.test.", Port: 5090, Priority: 1, Weight: 1}},
			"_sips._tcp.pbx.test": {{Target: "a.pbx.test.", Port: 5091, Priority: 1, Weight: 1}},
			"_sip._udp.gone.test": {{Target: ".", Port: 0}},
			"_sip._udp.half.test": {
				{Target: "missing.test.", Port: 1, Priority: 1},
				{Target: "10.0.0.9", Port: 2, Priority: 2},
			},
		},
		ips: map[string][]netip.Addr{
			"a.pbx.test":      ips("10.0.0.1", "fd00::1"),
			"backup.pbx.test": ips("10.0.0.2"),
			"pbx.test":        ips("10.0.0.100"),
			"plain.test":      ips("::ffff:10.0.0.7"),
		},
	}
	l := newResolverLayer(t, r)
	tests := []struct {
		name      string
		transport string
		host      string
		port      int
		want      []string
		errIs     error
		wantErr   bool
	}{
		{name: "ipv4 literal udp default port", transport: "udp", host: "192.0.2.1", want: []string{"192.0.2.1:5060"}},
		{name: "ipv4 literal tcp default port", transport: "tcp", host: "192.0.2.1", want: []string{"192.0.2.1:5060"}},
		{name: "ipv4 literal tls default port", transport: "tls", host: "192.0.2.1", want: []string{"192.0.2.1:5061"}},
		{name: "ipv6 literal in brackets", transport: "TLS", host: "[2001:db8::1]", port: 7000, want: []string{"[2001:db8::1]:7000"}},
		{name: "ipv6 literal bare", transport: "udp", host: "::1", want: []string{"[::1]:5060"}},
		{name: "empty transport is udp", transport: "", host: "192.0.2.1", want: []string{"192.0.2.1:5060"}},
		{name: "srv ordered by priority, all addresses", transport: "udp", host: "pbx.test",
			want: []string{"10.0.0.1:5070", "[fd00::1]:5070", "10.0.0.2:5080"}},
		{name: "srv tcp", transport: "tcp", host: "PBX.test.", want: []string{"10.0.0.1:5090", "[fd00::1]:5090"}},
		{name: "srv sips for tls", transport: "tls", host: "pbx.test", want: []string{"10.0.0.1:5091", "[fd00::1]:5091"}},
		{name: "explicit port uses A/AAAA only", transport: "udp", host: "pbx.test", port: 5099, want: []string{"10.0.0.100:5099"}},
		{name: "no srv falls back to A, udp", transport: "udp", host: "plain.test", want: []string{"10.0.0.7:5060"}},
		{name: "no srv falls back to A, tls", transport: "tls", host: "plain.test", want: []string{"10.0.0.7:5061"}},
		{name: "srv target unresolvable is skipped", transport: "udp", host: "half.test", want: []string{"10.0.0.9:2"}},
		{name: "srv dot: not available", transport: "udp", host: "gone.test", errIs: ErrNoTargets},
		{name: "unknown name", transport: "udp", host: "nx.test", wantErr: true},
		{name: "unknown transport", transport: "sctp", host: "pbx.test", errIs: ErrUnknownTransport},
		{name: "bad port", transport: "udp", host: "pbx.test", port: 70000, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Resolve(context.Background(), tt.transport, tt.host, tt.port)
			if tt.errIs != nil || tt.wantErr {
				if err == nil || (tt.errIs != nil && !errors.Is(err, tt.errIs)) {
					t.Fatalf("err = %v, want %v", err, tt.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(addrs(got), tt.want) {
				t.Fatalf("got %v, want %v", addrs(got), tt.want)
			}
			for _, g := range got {
				if g.Transport != canonTransport(tt.transport) {
					t.Fatalf("target transport %q", g.Transport)
				}
			}
		})
	}
	// SRV targets carry priority/weight and the URI host for TLS verification.
	got, _ := l.Resolve(context.Background(), "udp", "pbx.test", 0)
	if got[0].Priority != 10 || got[0].Weight != 100 || got[0].Host != "pbx.test" || got[2].Priority != 20 {
		t.Fatalf("targets %+v", got)
	}
}

func TestResolveSRVWeights(t *testing.T) {
	r := &fakeResolver{
		srv: map[string][]*net.SRV{"_sip._udp.w.test": {
			{Target: "zero.test", Port: 1, Priority: 5, Weight: 0},
			{Target: "light.test", Port: 1, Priority: 5, Weight: 10},
			{Target: "heavy.test", Port: 1, Priority: 5, Weight: 90},
			{Target: "last.test", Port: 1, Priority: 9, Weight: 1000},
		}},
		ips: map[string][]netip.Addr{
			"zero.test": ips("10.0.0.1"), "light.test": ips("10.0.0.2"),
			"heavy.test": ips("10.0.0.3"), "last.test": ips("10.0.0.4"),
		},
	}
	l := newResolverLayer(t, r)
	const n = 4000
	first := map[string]int{}
	for range n {
		got, err := l.Resolve(context.Background(), "udp", "w.test", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[3].Addr.Addr().String() != "10.0.0.4" {
			t.Fatalf("lower priority not last: %v", addrs(got))
		}
		first[got[0].Addr.Addr().String()]++
	}
	// Expected shares of the first place: heavy ~89%, light ~10%, zero ~1%.
	// Loose bounds: this checks the weights are honoured, not the RNG.
	heavy, light, zero := first["10.0.0.3"], first["10.0.0.2"], first["10.0.0.1"]
	if heavy < n*70/100 || light < n*3/100 || light > n*25/100 || zero > n*5/100 {
		t.Fatalf("first-place counts heavy %d light %d zero %d of %d", heavy, light, zero, n)
	}
	if r.srvN.Load() != 1 {
		t.Fatalf("%d SRV lookups for one cached name", r.srvN.Load())
	}
}

func TestResolveCache(t *testing.T) {
	r := &fakeResolver{
		srv: map[string][]*net.SRV{"_sip._tcp.k8s.test": {{Target: "k8s.test", Port: 5060, Priority: 0, Weight: 0}}},
		ips: map[string][]netip.Addr{"k8s.test": ips("10.96.0.10")},
	}
	l := newResolverLayer(t, r)
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l.now = func() time.Time { return time.Unix(0, now.Load()) }
	ctx := context.Background()

	resolve := func() {
		t.Helper()
		got, err := l.Resolve(ctx, "tcp", "k8s.test", 0)
		if err != nil || len(got) != 1 || got[0].Addr.String() != "10.96.0.10:5060" {
			t.Fatalf("got %v, %v", got, err)
		}
	}
	resolve()
	resolve()
	now.Add(int64(29 * time.Second))
	resolve()
	if s, i := r.srvN.Load(), r.ipN.Load(); s != 1 || i != 1 {
		t.Fatalf("within the TTL: %d SRV, %d A lookups, want 1, 1", s, i)
	}
	now.Add(int64(2 * time.Second)) // past the 30 s default
	resolve()
	if s := r.srvN.Load(); s != 2 {
		t.Fatalf("after the TTL: %d SRV lookups, want 2", s)
	}
	// Failures are not cached.
	for range 2 {
		if _, err := l.Resolve(ctx, "tcp", "nx.test", 0); err == nil {
			t.Fatal("resolved nx.test")
		}
	}
	if s := r.srvN.Load(); s != 4 {
		t.Fatalf("%d SRV lookups, want 4 (failures not cached)", s)
	}
	// A different transport is a different entry.
	if _, err := l.Resolve(ctx, "udp", "k8s.test", 0); err != nil {
		t.Fatal(err)
	}
	if s := r.srvN.Load(); s != 5 {
		t.Fatalf("%d SRV lookups, want 5", s)
	}
}

func TestResolveConcurrentShareOneLookup(t *testing.T) {
	r := &fakeResolver{
		ips:   map[string][]netip.Addr{"slow.test": ips("10.0.0.1")},
		delay: 50 * time.Millisecond,
	}
	l := newResolverLayer(t, r)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Resolve(context.Background(), "udp", "slow.test", 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s := r.srvN.Load(); s != 1 {
		t.Fatalf("%d SRV lookups for 16 concurrent Resolves", s)
	}
	// A caller's deadline bounds its wait; Close ends the lookup itself.
	r2 := &fakeResolver{delay: time.Hour}
	l2 := newResolverLayer(t, r2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := l2.Resolve(ctx, "tcp", "slow.test", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	start := time.Now()
	l2.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a lookup in flight", d)
	}
}

func TestResolveCacheDisabled(t *testing.T) {
	r := &fakeResolver{ips: map[string][]netip.Addr{"x.test": ips("10.0.0.1")}}
	l, err := New(Config{Resolver: r, ResolveCacheTTL: -1}, func(Packet) {})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		if _, err := l.Resolve(context.Background(), "udp", "x.test", 5060); err != nil {
			t.Fatal(err)
		}
	}
	if i := r.ipN.Load(); i != 3 {
		t.Fatalf("%d lookups with the cache disabled, want 3", i)
	}
}

func TestResolveCacheBounded(t *testing.T) {
	r := &fakeResolver{ips: map[string][]netip.Addr{}}
	for i := range maxCacheEntries + 50 {
		r.ips[fmt.Sprintf("h%d.test", i)] = ips("10.0.0.1")
	}
	l := newResolverLayer(t, r)
	for name := range r.ips {
		if _, err := l.Resolve(context.Background(), "udp", name, 5060); err != nil {
			t.Fatal(err)
		}
	}
	l.cacheMu.Lock()
	n := len(l.cache)
	l.cacheMu.Unlock()
	if n > maxCacheEntries {
		t.Fatalf("%d cache entries, limit %d", n, maxCacheEntries)
	}
}
