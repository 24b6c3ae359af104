package siptransport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var crlf = []byte("\r\n")

// streamConn is one TCP or TLS connection, accepted or dialed. A single
// reader goroutine frames what arrives; writers serialize on wmu.
type streamConn struct {
	l         *Layer
	transport string
	nc        net.Conn // *net.TCPConn or *tls.Conn
	raw       net.Conn // the TCP connection under nc
	local     netip.AddrPort
	remote    netip.AddrPort
	outbound  bool

	wmu       sync.Mutex
	closed    atomic.Bool
	closeOnce sync.Once
	last      atomic.Int64 // unix nanoseconds of the last read or write
}

func (l *Layer) newStreamConn(transport string, nc, raw net.Conn, outbound bool) *streamConn {
	c := &streamConn{
		l:         l,
		transport: transport,
		nc:        nc,
		raw:       raw,
		local:     addrPortOf(raw.LocalAddr()),
		remote:    addrPortOf(raw.RemoteAddr()),
		outbound:  outbound,
	}
	c.touch()
	return c
}

func (c *streamConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *streamConn) key() connKey { return connKey{c.transport, c.remote} }

// register makes c reusable by Send and starts its reader. It returns false
// (and closes c) when the layer is closed. For an accepted TLS connection
// the handshake has completed.
func (l *Layer) register(c *streamConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.raw.Close()
		return false
	}
	// The newest connection to an address wins; an older one stays open
	// (and readable) until it closes by itself.
	l.conns[c.key()] = c
	l.all[c] = struct{}{}
	l.stats(c.transport).openConns.Add(1)
	return l.spawnLocked(c.readLoop)
}

// close closes the connection once and forgets it. Closing the raw TCP
// connection (not tls.Conn.Close, which may block writing close_notify)
// unblocks any reader and writer at once.
func (c *streamConn) close(cause error) {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.raw.Close()
		l := c.l
		l.mu.Lock()
		if l.conns[c.key()] == c {
			delete(l.conns, c.key())
		}
		if _, ok := l.all[c]; ok {
			delete(l.all, c)
			l.stats(c.transport).openConns.Add(-1)
		}
		l.mu.Unlock()
		l.log.Debug("siptransport: connection closed", "transport", c.transport,
			"remote", c.remote, "local", c.local, "outbound", c.outbound, "cause", cause)
	})
}

// readLoop frames the stream and delivers messages until the connection
// fails, idles out or breaks framing.
func (c *streamConn) readLoop() {
	l := c.l
	st := l.stats(c.transport)
	idle := l.cfg.IdleTimeout
	sp := newSplitter(l.cfg.MaxMessageBytes)
	for {
		deadline := time.Unix(0, c.last.Load()).Add(idle)
		if err := c.nc.SetReadDeadline(deadline); err != nil {
			c.close(err)
			return
		}
		n, err := sp.readFrom(c.nc)
		if n > 0 {
			c.touch()
		}
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if time.Since(time.Unix(0, c.last.Load())) < idle {
					continue // a write kept the connection busy
				}
				c.close(errors.New("idle timeout"))
				return
			}
			c.close(err)
			return
		}
		for {
			kind, msg, ferr := sp.next()
			if ferr != nil {
				st.parseErrors.Add(1)
				l.log.Warn("siptransport: closing stream connection: bad framing", "transport", c.transport,
					"remote", c.remote, "err", ferr)
				c.close(ferr)
				return
			}
			if kind == frameMore {
				break
			}
			if kind == frameKeepAlive {
				st.keepAlives.Add(1)
				if werr := c.write(context.Background(), crlf); werr != nil {
					c.close(werr)
					return
				}
				continue
			}
			data := make([]byte, len(msg))
			copy(data, msg)
			st.packetsIn.Add(1)
			st.bytesIn.Add(uint64(len(data)))
			l.h(Packet{Data: data, Transport: c.transport, Source: c.remote, Local: c.local})
		}
		if err != nil { // data and an error in one Read: deliver, then stop
			c.close(err)
			return
		}
	}
}

// write writes all of msg under the write lock. A failed or partial write
// closes the connection, since the stream framing is lost.
func (c *streamConn) write(ctx context.Context, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return errConnClosedUnwritten
	}
	deadline := time.Now().Add(c.l.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		c.close(err)
		return err
	}
	if ctx.Done() != nil {
		// Cancellation interrupts the write through its deadline. The guard
		// keeps a late callback from touching the deadline of a later write.
		var mu sync.Mutex
		finished := false
		stop := context.AfterFunc(ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if !finished {
				_ = c.raw.SetWriteDeadline(time.Unix(1, 0))
			}
		})
		defer func() {
			if !stop() {
				mu.Lock()
				finished = true
				mu.Unlock()
			}
		}()
	}
	if _, err := c.nc.Write(msg); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		c.close(err)
		return err
	}
	c.touch()
	return nil
}

func (l *Layer) acceptLoop(ln net.Listener, transport string) {
	defer l.wg.Done()
	st := l.stats(transport)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("siptransport: accept", "transport", transport, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-l.ctx.Done():
				return
			}
		}
		backoff = 0
		st.accepted.Add(1)
		if transport == TCP {
			l.register(l.newStreamConn(TCP, nc, nc, false))
			continue
		}
		l.mu.Lock()
		ok := l.spawnLocked(func() { l.serveTLS(nc) })
		l.mu.Unlock()
		if !ok {
			nc.Close()
			return
		}
	}
}

// serveTLS completes the server handshake of an accepted connection, bounded
// by DialTimeout, then registers it.
func (l *Layer) serveTLS(raw net.Conn) {
	tc := tls.Server(raw, l.cfg.ServerTLS)
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.DialTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.tlsStats.handshakeErrors.Add(1)
		l.log.Debug("siptransport: tls handshake failed", "remote", raw.RemoteAddr(), "err", err)
		raw.Close()
		return
	}
	l.register(l.newStreamConn(TLS, tc, raw, false))
}

// dialCall is one dial in progress, shared by concurrent Sends.
type dialCall struct {
	done chan struct{}
	c    *streamConn
	err  error
}

func (l *Layer) sendStream(ctx context.Context, transport, host string, addr netip.AddrPort, msg []byte) error {
	st := l.stats(transport)
	for attempt := 0; ; attempt++ {
		c, err := l.streamConnTo(ctx, transport, host, addr)
		if err != nil {
			st.sendErrors.Add(1)
			return fmt.Errorf("siptransport: send %s to %v: %w", transport, addr, err)
		}
		err = c.write(ctx, msg)
		if err == nil {
			st.packetsOut.Add(1)
			st.bytesOut.Add(uint64(len(msg)))
			return nil
		}
		if errors.Is(err, errConnClosedUnwritten) && attempt == 0 {
			continue // closed between lookup and write: nothing sent, try a fresh one
		}
		st.sendErrors.Add(1)
		return fmt.Errorf("siptransport: send %s to %v: %w", transport, addr, err)
	}
}

// streamConnTo returns an open connection to addr, dialing one if needed.
func (l *Layer) streamConnTo(ctx context.Context, transport, host string, addr netip.AddrPort) (*streamConn, error) {
	key := connKey{transport, addr}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if c := l.conns[key]; c != nil && !c.closed.Load() {
		l.mu.Unlock()
		return c, nil
	}
	call := l.dials[key]
	if call == nil {
		call = &dialCall{done: make(chan struct{})}
		l.dials[key] = call
		l.spawnLocked(func() { l.dial(key, host, call) })
	}
	l.mu.Unlock()
	select {
	case <-call.done:
		return call.c, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for dial: %w", ctx.Err())
	}
}

// dial runs in its own goroutine so that no single caller's context cancels
// a dial others wait for; it is bounded by DialTimeout and Close.
func (l *Layer) dial(key connKey, host string, call *dialCall) {
	st := l.stats(key.transport)
	st.dials.Add(1)
	c, err := l.dialConn(key, host)
	if err == nil && !l.register(c) {
		err = ErrClosed
	}
	if err != nil {
		st.dialErrors.Add(1)
		c = nil
		err = fmt.Errorf("dial: %w", err)
	}
	l.mu.Lock()
	delete(l.dials, key)
	l.mu.Unlock()
	call.c, call.err = c, err
	close(call.done)
}

func (l *Layer) dialConn(key connKey, host string) (*streamConn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.DialTimeout)
	defer cancel()
	d := &net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", key.addr.String())
	if err != nil {
		return nil, err
	}
	if key.transport == TCP {
		return l.newStreamConn(TCP, raw, raw, true), nil
	}
	cfg := l.cfg.ClientTLS
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
		if cfg.ServerName == "" {
			cfg.ServerName = key.addr.Addr().WithZone("").String()
		}
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return l.newStreamConn(TLS, tc, raw, true), nil
}
