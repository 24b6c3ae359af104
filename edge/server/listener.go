package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gobwas "github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/tlsrec"
)

// maxConcurrentHandshakes bounds handshake goroutines per listener; beyond it the accept loop
// waits and the kernel's backlog pushes back on clients.
const maxConcurrentHandshakes = 512

// listener is one WS or WSS endpoint. Its settings (path, origins, limits, certificates) are
// swapped atomically on reload; its address and protocol are fixed for the process's life.
type listener struct {
	srv       *Server
	name      string
	address   string
	transport string // "ws" or "wss"
	addr      string // bound address, for the Sipws-Local header
	cfg       atomic.Pointer[config.Listener]
	certs     *certStore
	tlsConfig *tls.Config
	m         *listenerMetrics

	ln    net.Listener
	conns atomic.Int64
	sem   chan struct{}
	once  sync.Once

	pendingMu sync.Mutex
	pending   map[net.Conn]struct{} // connections in their handshake
	aborted   bool
}

// trackHandshake registers a connection in its handshake; false when the listener is
// shutting down and the connection must be dropped.
func (l *listener) trackHandshake(nc net.Conn) bool {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	if l.aborted {
		return false
	}
	if l.pending == nil {
		l.pending = make(map[net.Conn]struct{})
	}
	l.pending[nc] = struct{}{}
	return true
}

func (l *listener) untrackHandshake(nc net.Conn) {
	l.pendingMu.Lock()
	delete(l.pending, nc)
	l.pendingMu.Unlock()
}

// abortHandshakes ends every handshake in progress by moving its deadline to now.
func (l *listener) abortHandshakes() {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	l.aborted = true
	for nc := range l.pending {
		_ = nc.SetDeadline(time.Now())
	}
}

func newListener(s *Server, lc config.Listener) (*listener, error) {
	l := &listener{
		srv:       s,
		name:      lc.Name,
		address:   lc.Address,
		transport: lc.Protocol,
		m:         s.m.forListener(lc.Name),
		sem:       make(chan struct{}, maxConcurrentHandshakes),
	}
	l.cfg.Store(&lc)
	if lc.Protocol == "wss" {
		cs, err := newCertStore(lc.TLS.Certificates)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		l.certs = cs
		l.tlsConfig = &tls.Config{
			MinVersion:     lc.TLS.TLSMinVersion(),
			GetCertificate: cs.get,
			NextProtos:     []string{"http/1.1"},
		}
	}
	return l, nil
}

func (l *listener) limits() *config.Limits { return &l.cfg.Load().Limits }

func (l *listener) bind() error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.name, err)
	}
	l.ln = ln
	l.addr = ln.Addr().String()
	l.srv.log.Info("listening", "listener", l.name, "protocol", l.transport, "address", l.addr, "path", l.cfg.Load().Path)
	return nil
}

func (l *listener) close() {
	l.once.Do(func() {
		if l.ln != nil {
			l.ln.Close()
		}
	})
}

func (l *listener) acceptLoop() {
	defer l.srv.hs.Done()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: wait and retry rather than spin or die.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.srv.log.Warn("accept failed", "listener", l.name, "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		l.sem <- struct{}{}
		l.srv.hs.Add(1)
		go func() {
			defer func() { <-l.sem; l.srv.hs.Done() }()
			if !l.trackHandshake(nc) {
				nc.Close()
				return
			}
			defer l.untrackHandshake(nc)
			l.handshake(nc)
		}()
	}
}

// release frees the connection slots a flow held.
func (l *listener) release(ip netip.Addr) {
	l.conns.Add(-1)
	l.srv.perIP.release(ip)
}

// hsState collects what the upgrade callbacks saw.
type hsState struct {
	sawSIP bool
	origin string
	refuse string // admission refusal decided before the request was read
}

func (h *hsState) reject(result string, code int, reason string, extra string) error {
	h.refuse = result
	opts := []gobwas.RejectOption{gobwas.RejectionStatus(code), gobwas.RejectionReason(reason)}
	if extra != "" {
		opts = append(opts, gobwas.RejectionHeader(gobwas.HandshakeHeaderString(extra)))
	}
	return gobwas.RejectConnectionError(opts...)
}

// handshake runs TLS (for WSS) and the WebSocket upgrade with the listener's policy, then hands
// the connection to the poller. Every refusal gets an HTTP status and is counted by reason.
func (l *listener) handshake(nc net.Conn) {
	start := time.Now()
	lc := l.cfg.Load()
	_ = nc.SetDeadline(start.Add(lc.Limits.HandshakeTimeout.Duration))
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	ip := ap.Addr().Unmap()

	st := &hsState{}
	admitted := false
	switch {
	case l.srv.draining.Load():
		st.refuse = hsDraining
		// The drain may have moved this deadline already; keep the 503 short.
		_ = nc.SetDeadline(time.Now().Add(time.Second))
	case l.conns.Load() >= int64(lc.Limits.MaxConnections):
		st.refuse = hsListenerLimit
	default:
		if r := l.srv.perIP.admit(ip, lc.Limits.MaxConnectionsPerIP, lc.Limits.HandshakesPerSecondPerIP, lc.Limits.HandshakeBurstPerIP, start); r != "" {
			st.refuse = r
		} else {
			admitted = true
			l.conns.Add(1)
		}
	}
	done := false
	defer func() {
		if !done {
			nc.Close()
			if admitted {
				l.release(ip)
			}
		}
	}()

	var rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	} = nc
	var th *tlsrec.Handshake
	if l.tlsConfig != nil {
		th = tlsrec.Server(nc, l.tlsConfig)
		ctx, cancel := context.WithDeadline(context.Background(), start.Add(lc.Limits.HandshakeTimeout.Duration))
		err := th.Handshake(ctx)
		cancel()
		if err != nil {
			l.m.refused(classify(err, hsTLSError))
			return
		}
		rw = th.Conn()
	}
	if lc.Demo { // plain GETs get the demo page (demohttp.go)
		var served bool
		if rw, served = serveDemo(rw); served {
			return
		}
	}

	up := gobwas.Upgrader{
		OnRequest: func(uri []byte) error {
			switch st.refuse {
			case hsDraining:
				return st.reject(hsDraining, 503, "server is shutting down", "Retry-After: 1\r\n")
			case hsListenerLimit:
				return st.reject(hsListenerLimit, 503, "listener connection limit reached", "Retry-After: 10\r\n")
			case hsIPLimit:
				return st.reject(hsIPLimit, 503, "too many connections from this address", "Retry-After: 10\r\n")
			case hsIPRate:
				return st.reject(hsIPRate, 503, "handshake rate limit exceeded for this address", "Retry-After: "+retryAfterRate(lc)+"\r\n")
			}
			path := uri
			if i := bytes.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
			if string(path) != lc.Path {
				return st.reject(hsBadPath, 404, "no WebSocket endpoint at this path", "")
			}
			return nil
		},
		ProtocolCustom: func(v []byte) (string, bool) {
			for _, p := range bytes.Split(v, []byte{','}) {
				if string(bytes.TrimSpace(p)) == "sip" {
					st.sawSIP = true
					return "sip", true
				}
			}
			return "", true
		},
		OnHeader: func(k, v []byte) error {
			if bytes.EqualFold(k, []byte("Origin")) {
				st.origin = string(v)
			}
			return nil
		},
		OnBeforeUpgrade: func() (gobwas.HandshakeHeader, error) {
			if !st.sawSIP {
				return nil, st.reject(hsNoSubprotocol, 400, "Sec-WebSocket-Protocol must offer \"sip\" (RFC 7118)", "")
			}
			if !config.MatchOrigin(lc.AllowedOrigins, st.origin) {
				return nil, st.reject(hsBadOrigin, 403, "origin not allowed", "")
			}
			return gobwas.HandshakeHeaderString(""), nil
		},
	}
	if _, err := up.Upgrade(rw); err != nil {
		if st.refuse != "" {
			l.m.refused(st.refuse)
		} else {
			l.m.refused(classify(err, hsBadRequest))
		}
		return
	}
	if !admitted { // cannot happen: refusals are returned from OnRequest
		l.m.refused(hsInternal)
		return
	}

	c := &conn{srv: l.srv, ln: l, fd: -1, remote: ap.String(), origin: internOrigin(st.origin), addr: ip}
	serial := l.srv.serial.Add(1)
	token, err := l.srv.keys.Encode(flow.Flow{Node: l.srv.node, Serial: serial})
	if err != nil {
		l.srv.log.Error("flow token", "err", err)
		l.m.refused(hsInternal)
		return
	}
	c.token = token
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastPing.Store(now)

	if th != nil {
		tstate, err := th.Detach()
		switch {
		case errors.Is(err, tlsrec.ErrNotTLS13):
			_ = nc.SetDeadline(time.Time{})
			l.srv.m.tlsDetached.WithLabelValues("stream").Inc()
			c.stream = th.Conn()
			c.wake = make(chan struct{}, 1)
			if err := l.srv.register(c); err != nil {
				l.m.refused(hsInternal)
				return
			}
			done = true
			l.m.handshakeOK.Inc()
			l.m.handshakeTime.Observe(time.Since(start).Seconds())
			l.srv.streams.Add(2)
			go c.streamReader()
			go c.streamWriter()
			return
		case err != nil:
			l.srv.log.Warn("tls detach", "remote", c.remote, "err", err)
			l.m.refused(hsTLSError)
			return
		}
		c.tls = tstate
		l.srv.m.tlsDetached.WithLabelValues("detached").Inc()
	}
	fd, err := detachFD(nc)
	if err != nil {
		l.srv.log.Error("detach socket", "err", err)
		l.m.refused(hsInternal)
		return
	}
	done = true // the socket now belongs to the flow
	c.fd = fd
	if err := l.srv.register(c); err != nil {
		l.srv.log.Error("register flow", "err", err)
		unix.Close(fd)
		l.release(ip)
		l.m.refused(hsInternal)
		return
	}
	l.m.handshakeOK.Inc()
	l.m.handshakeTime.Observe(time.Since(start).Seconds())
	// Bytes may have arrived before the poller watched the socket; edge-triggered epoll
	// reports them on registration, but look once to be sure.
	l.srv.schedule(c)
}

func retryAfterRate(lc *config.Listener) string {
	r := lc.Limits.HandshakesPerSecondPerIP
	if r <= 0 {
		return "1"
	}
	return strconv.Itoa(max(1, int(1/r+0.999)))
}

// classify names a failed handshake: timeouts apart from other errors.
func classify(err error, otherwise string) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return hsTimeout
	}
	return otherwise
}

// detachFD takes the socket out of the Go runtime's poller: it duplicates the descriptor and
// closes the net.Conn, so the flow holds only a descriptor (no net.Conn, no runtime pollDesc).
// The duplicate shares the non-blocking file status of the original.
func detachFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no file descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("syscall conn: %w", err)
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("control: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	nc.Close()
	return fd, nil
}

// origins interns Origin strings: a few distinct values are shared by very many flows.
var origins struct {
	mu sync.Mutex
	m  map[string]string
}

func internOrigin(o string) string {
	if o == "" {
		return ""
	}
	origins.mu.Lock()
	defer origins.mu.Unlock()
	if v, ok := origins.m[o]; ok {
		return v
	}
	if origins.m == nil || len(origins.m) > 4096 {
		origins.m = make(map[string]string)
	}
	origins.m[o] = o
	return o
}
