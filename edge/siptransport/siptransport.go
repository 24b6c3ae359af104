// Package siptransport is the router's upstream SIP transport layer: UDP,
// TCP and TLS listeners, connection reuse and dialing towards upstream SIP
// servers, RFC 3261 §18.3 stream framing, RFC 5626 CRLF keep-alives and
// RFC 3263-lite resolution of SIP URI hosts into ordered targets.
//
// The layer knows nothing about SIP beyond framing: every complete message
// is handed to the Handler as a Packet, and Send writes bytes it is given.
package siptransport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport names, as used in Packet.Transport, Target.Transport and Send.
const (
	UDP = "udp"
	TCP = "tcp"
	TLS = "tls"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessageBytes = 65535
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultDialTimeout     = 5 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultResolveCacheTTL = 30 * time.Second

	// MaxUDPPayload is the largest UDP payload over IPv4 (65535 - 20 - 8).
	MaxUDPPayload = 65507
)

// Errors returned (wrapped) by the layer.
var (
	ErrClosed              = errors.New("siptransport: layer closed")
	ErrUnknownTransport    = errors.New("siptransport: unknown transport")
	ErrMessageTooLarge     = errors.New("siptransport: message too large")
	ErrNoContentLength     = errors.New("siptransport: message on a stream without Content-Length")
	ErrMalformed           = errors.New("siptransport: malformed message framing")
	ErrNoTargets           = errors.New("siptransport: no targets")
	ErrConnectionClosed    = errors.New("siptransport: connection closed")
	errConnClosedUnwritten = fmt.Errorf("%w before the write", ErrConnectionClosed)
)

// Packet is one SIP message received from the network.
type Packet struct {
	Data      []byte         // exactly one SIP message (owned by the handler; not reused)
	Transport string         // "udp", "tcp", "tls"
	Source    netip.AddrPort // remote address
	Local     netip.AddrPort // our address it arrived on
}

// Handler receives packets. It is called concurrently from reader
// goroutines (two for UDP, one per stream connection) and must not block
// long: a slow handler stalls reading from that socket or connection.
type Handler func(Packet)

// Resolver is the subset of *net.Resolver used by Resolve.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Layer. Zero values take the documented defaults.
type Config struct {
	// Listen addresses ("127.0.0.1:5070"; "" = not listening). The UDP
	// socket is also the one UDP is sent from, so replies come back to it.
	UDP, TCP, TLS string

	ServerTLS *tls.Config // for the TLS listener; required when TLS is set
	// ClientTLS is used for dialing TLS upstreams. nil: system roots. An
	// empty ServerName is filled per dial with the target's host name
	// (Target.Host, RFC 5922 §4) or, for Send, the IP address.
	ClientTLS *tls.Config

	MaxMessageBytes int           // largest message received; default 65535
	IdleTimeout     time.Duration // close stream connections idle this long; default 5 min
	DialTimeout     time.Duration // TCP connect + TLS handshake; default 5 s
	WriteTimeout    time.Duration // bound on one stream write when ctx has no earlier deadline; default 10 s
	ResolveCacheTTL time.Duration // lifetime of cached Resolve results; default 30 s; < 0 disables the cache

	Resolver Resolver // nil: net.DefaultResolver
	Logger   *slog.Logger
}

// TransportStats are the counters of one transport.
type TransportStats struct {
	PacketsIn       uint64 // messages delivered to the handler
	PacketsOut      uint64 // messages written by Send
	BytesIn         uint64
	BytesOut        uint64
	KeepAlives      uint64 // CRLF keep-alive pings received (streams) or ignored (udp)
	SendErrors      uint64
	Dials           uint64 // connections dialed (tcp/tls)
	DialErrors      uint64
	Accepted        uint64 // connections accepted (tcp/tls)
	HandshakeErrors uint64 // accepted TLS connections whose handshake failed
	ParseErrors     uint64 // framing errors (streams: connection closed) and dropped datagrams
	OpenConns       int64  // stream connections currently open
}

// Stats is a snapshot of the layer's counters.
type Stats struct {
	UDP, TCP, TLS TransportStats
}

type counters struct {
	packetsIn, packetsOut, bytesIn, bytesOut atomic.Uint64
	keepAlives, sendErrors                   atomic.Uint64
	dials, dialErrors, accepted, parseErrors atomic.Uint64
	handshakeErrors                          atomic.Uint64
	openConns                                atomic.Int64
}

func (c *counters) snapshot() TransportStats {
	return TransportStats{
		PacketsIn:       c.packetsIn.Load(),
		PacketsOut:      c.packetsOut.Load(),
		BytesIn:         c.bytesIn.Load(),
		BytesOut:        c.bytesOut.Load(),
		KeepAlives:      c.keepAlives.Load(),
		SendErrors:      c.sendErrors.Load(),
		Dials:           c.dials.Load(),
		DialErrors:      c.dialErrors.Load(),
		Accepted:        c.accepted.Load(),
		HandshakeErrors: c.handshakeErrors.Load(),
		ParseErrors:     c.parseErrors.Load(),
		OpenConns:       c.openConns.Load(),
	}
}

// connKey identifies a stream connection by transport and remote address.
type connKey struct {
	transport string
	addr      netip.AddrPort
}

// Layer is the transport layer. Create it with New, bind with Start, and
// release with Close. All methods are safe for concurrent use.
type Layer struct {
	cfg Config
	h   Handler
	log *slog.Logger
	res Resolver
	now func() time.Time // clock for the resolve cache (tests replace it)

	ctx    context.Context // canceled by Close; bounds dials and handshakes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	started   bool
	closed    bool
	udp       *udpSocket // listening socket, or the lazily made ephemeral one
	listeners []net.Listener
	tcpLocal  netip.AddrPort
	tlsLocal  netip.AddrPort
	conns     map[connKey]*streamConn  // by remote address, for reuse
	all       map[*streamConn]struct{} // every open connection, for Close
	dials     map[connKey]*dialCall

	cacheMu  sync.Mutex
	cache    map[resolveKey]*resolveEntry
	udpStats counters
	tcpStats counters
	tlsStats counters
}

// New validates cfg, applies defaults and returns a Layer that is not yet
// listening. h must not be nil.
func New(cfg Config, h Handler) (*Layer, error) {
	if h == nil {
		return nil, errors.New("siptransport: nil handler")
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ResolveCacheTTL == 0 {
		cfg.ResolveCacheTTL = DefaultResolveCacheTTL
	}
	if cfg.TLS != "" && cfg.ServerTLS == nil {
		return nil, errors.New("siptransport: TLS listener configured without ServerTLS")
	}
	for _, a := range []struct{ name, addr string }{{UDP, cfg.UDP}, {TCP, cfg.TCP}, {TLS, cfg.TLS}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return nil, fmt.Errorf("siptransport: %s listen address %q: %w", a.name, a.addr, err)
		}
	}
	l := &Layer{
		cfg:   cfg,
		h:     h,
		log:   cfg.Logger,
		res:   cfg.Resolver,
		now:   time.Now,
		conns: make(map[connKey]*streamConn),
		all:   make(map[*streamConn]struct{}),
		dials: make(map[connKey]*dialCall),
		cache: make(map[resolveKey]*resolveEntry),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.res == nil {
		l.res = net.DefaultResolver
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// Start binds the configured listeners and starts the UDP readers and the
// TCP/TLS accept loops. On error nothing stays bound.
func (l *Layer) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case l.started:
		return errors.New("siptransport: already started")
	}
	var (
		udp       *udpSocket
		listeners []net.Listener
		err       error
	)
	fail := func(e error) error {
		if udp != nil {
			udp.conn.Close()
		}
		for _, ln := range listeners {
			ln.Close()
		}
		return e
	}
	if l.cfg.UDP != "" {
		if udp, err = listenUDP(l.cfg.UDP); err != nil {
			return fail(fmt.Errorf("siptransport: listen udp %s: %w", l.cfg.UDP, err))
		}
	}
	var tcpLn, tlsLn net.Listener
	if l.cfg.TCP != "" {
		if tcpLn, err = net.Listen("tcp", l.cfg.TCP); err != nil {
			return fail(fmt.Errorf("siptransport: listen tcp %s: %w", l.cfg.TCP, err))
		}
		listeners = append(listeners, tcpLn)
	}
	if l.cfg.TLS != "" {
		if tlsLn, err = net.Listen("tcp", l.cfg.TLS); err != nil {
			return fail(fmt.Errorf("siptransport: listen tls %s: %w", l.cfg.TLS, err))
		}
		listeners = append(listeners, tlsLn)
	}
	l.started = true
	l.listeners = listeners
	if udp != nil {
		if l.udp != nil { // an ephemeral socket made by an earlier Send
			l.udp.conn.Close()
		}
		l.udp = udp
		l.startUDPReadersLocked(udp)
	}
	if tcpLn != nil {
		l.tcpLocal = addrPortOf(tcpLn.Addr())
		l.wg.Add(1)
		go l.acceptLoop(tcpLn, TCP)
	}
	if tlsLn != nil {
		l.tlsLocal = addrPortOf(tlsLn.Addr())
		l.wg.Add(1)
		go l.acceptLoop(tlsLn, TLS)
	}
	return nil
}

// Close closes listeners, sockets and every connection, aborts dials and
// lookups in progress and waits for all goroutines of the layer (so also for
// handler calls in progress). It is idempotent.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	l.cancel()
	udp := l.udp
	listeners := l.listeners
	conns := make([]*streamConn, 0, len(l.all))
	for c := range l.all {
		conns = append(conns, c)
	}
	l.mu.Unlock()

	var errs []error
	if udp != nil {
		if err := udp.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ln := range listeners {
		if err := ln.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range conns {
		c.close(ErrClosed)
	}
	l.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("siptransport: close: %w", err)
	}
	return nil
}

// LocalAddr returns the bound address of the transport's listener (for udp,
// also the ephemeral socket made by Send when no UDP listener is
// configured), or the zero AddrPort.
func (l *Layer) LocalAddr(transport string) netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch canonTransport(transport) {
	case UDP:
		if l.udp != nil {
			return l.udp.local
		}
	case TCP:
		return l.tcpLocal
	case TLS:
		return l.tlsLocal
	}
	return netip.AddrPort{}
}

// Stats returns a snapshot of the counters.
func (l *Layer) Stats() Stats {
	return Stats{UDP: l.udpStats.snapshot(), TCP: l.tcpStats.snapshot(), TLS: l.tlsStats.snapshot()}
}

func (l *Layer) stats(transport string) *counters {
	switch transport {
	case TCP:
		return &l.tcpStats
	case TLS:
		return &l.tlsStats
	}
	return &l.udpStats
}

// Send writes msg to addr over transport.
//
// udp: one datagram from the listening socket (or an ephemeral socket, which
// is then read from too, when no UDP listener is configured); a message over
// 65507 bytes fails with ErrMessageTooLarge (RFC 3261 §18.1.1 would switch
// to TCP above 1300 bytes: that decision is the caller's).
//
// tcp/tls: the message goes on an existing connection to addr, including
// one the peer opened to us (RFC 3261 §18.2.2), else on a new one; concurrent
// Sends to the same addr share one dial. The whole message is written under
// the connection's write lock; a failed write closes the connection. ctx
// bounds waiting for the dial and the write.
func (l *Layer) Send(ctx context.Context, transport string, addr netip.AddrPort, msg []byte) error {
	return l.send(ctx, canonTransport(transport), "", addr, msg)
}

// SendTarget is Send to a Target from Resolve. For tls, a new connection
// verifies the server certificate against t.Host (RFC 5922 §4) unless
// ClientTLS sets a ServerName.
func (l *Layer) SendTarget(ctx context.Context, t Target, msg []byte) error {
	return l.send(ctx, canonTransport(t.Transport), t.Host, t.Addr, msg)
}

func (l *Layer) send(ctx context.Context, transport, host string, addr netip.AddrPort, msg []byte) error {
	if !addr.IsValid() || addr.Port() == 0 {
		return fmt.Errorf("siptransport: send to %v: invalid address", addr)
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	switch transport {
	case UDP:
		return l.sendUDP(addr, msg)
	case TCP, TLS:
		return l.sendStream(ctx, transport, host, addr, msg)
	}
	return fmt.Errorf("siptransport: send to %v: %w %q", addr, ErrUnknownTransport, transport)
}

// spawn starts f as a goroutine of the layer unless the layer is closed.
// The caller holds l.mu.
func (l *Layer) spawnLocked(f func()) bool {
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// canonTransport maps a transport name to its constant, "" to udp, and
// anything unknown to itself (rejected later). Case-insensitive.
func canonTransport(t string) string {
	switch {
	case t == UDP || t == "" || strings.EqualFold(t, UDP):
		return UDP
	case t == TCP || strings.EqualFold(t, TCP):
		return TCP
	case t == TLS || strings.EqualFold(t, TLS):
		return TLS
	}
	return t
}

// addrPortOf converts a net.Addr from a socket into an unmapped AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
