package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"
)

// dialFlags are the client-side flags shared by clients, handshakes, rtt and probe.
type dialFlags struct {
	url      string
	sources  string
	insecure bool
	curves   string
	origin   string
	timeout  time.Duration
}

func (f *dialFlags) register(fs *flag.FlagSet, defaultSources string) {
	fs.StringVar(&f.url, "url", "ws://127.0.0.1:8080/", "ws:// or wss:// URL of the server")
	fs.StringVar(&f.sources, "source", defaultSources, "comma separated local addresses to bind, used round robin")
	fs.BoolVar(&f.insecure, "insecure", true, "skip certificate verification (self-signed bench certificate)")
	fs.StringVar(&f.curves, "curves", "", "TLS key exchanges to offer, comma separated (X25519, P256, X25519MLKEM768); empty: Go's defaults")
	fs.StringVar(&f.origin, "origin", "https://"+sipDomain, "Origin header of the handshake (empty: none)")
	fs.DurationVar(&f.timeout, "dial-timeout", 30*time.Second, "bound on TCP connect, TLS and upgrade")
}

func (f *dialFlags) transport() string {
	if u, err := url.Parse(f.url); err == nil {
		return u.Scheme
	}
	return ""
}

// dialer opens WebSocket connections that offer subprotocol "sip" from the configured source
// addresses. Source addresses are what let one machine go past the ~28k ephemeral ports of a
// single 4-tuple family.
type dialer struct {
	url     string
	d       ws.Dialer
	sources []net.IP
	next    atomic.Uint32
}

var curveNames = map[string]tls.CurveID{
	"X25519": tls.X25519, "P256": tls.CurveP256, "P384": tls.CurveP384, "X25519MLKEM768": tls.X25519MLKEM768,
}

func (f *dialFlags) dialer() (*dialer, error) {
	d := &dialer{url: f.url}
	for _, s := range splitList(f.sources) {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("bad -source address %q", s)
		}
		d.sources = append(d.sources, ip)
	}
	if len(d.sources) == 0 {
		d.sources = []net.IP{nil}
	}
	// No session cache: every WSS handshake is a full TLS 1.3 handshake, the expensive case.
	tc := &tls.Config{InsecureSkipVerify: f.insecure, MinVersion: tls.VersionTLS13}
	for _, c := range splitList(f.curves) {
		id, ok := curveNames[c]
		if !ok {
			return nil, fmt.Errorf("unknown curve %q", c)
		}
		tc.CurvePreferences = append(tc.CurvePreferences, id)
	}
	d.d = ws.Dialer{
		Timeout:   f.timeout,
		Protocols: []string{"sip"},
		TLSConfig: tc,
		NetDial:   d.netDial,
	}
	if f.origin != "" {
		d.d.Header = ws.HandshakeHeaderHTTP(http.Header{"Origin": {f.origin}})
	}
	return d, nil
}

func (d *dialer) netDial(ctx context.Context, network, addr string) (net.Conn, error) {
	src := d.sources[int(d.next.Add(1))%len(d.sources)]
	nd := net.Dialer{Control: bindAddressNoPort}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	return nd.DialContext(ctx, network, addr)
}

// bindAddressNoPort defers the choice of the local port to connect(), so that ports are unique
// per 4-tuple rather than per source address and TIME_WAIT of the handshake loop reuses them.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

// wsConn is a client connection; reads go through br when the server sent frames together with
// its handshake response.
type wsConn struct {
	net.Conn
	r io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) { return c.r.Read(p) }

var errNoSIP = errors.New("server did not select subprotocol sip")

func (d *dialer) dial(ctx context.Context) (*wsConn, error) {
	// A copy per dial, so that a refusal's reason phrase and body can be told apart per call.
	wd := d.d
	var refusal string
	wd.OnStatusError = func(status int, reason []byte, resp io.Reader) {
		raw, _ := io.ReadAll(io.LimitReader(resp, 1024))
		_, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		refusal = fmt.Sprintf("HTTP %d %s: %q", status, reason, bytes.TrimSpace(body))
	}
	conn, br, hs, err := wd.Dial(ctx, d.url)
	if err != nil {
		if refusal != "" {
			return nil, errors.New(refusal)
		}
		return nil, err
	}
	if hs.Protocol != "sip" {
		conn.Close()
		return nil, errNoSIP
	}
	c := &wsConn{Conn: conn, r: conn}
	if br != nil {
		c.r = br // it reads on from conn once its buffer is drained
	}
	return c, nil
}

// tlsInfo names the negotiated TLS version and key exchange ("" for ws).
func tlsInfo(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	return tls.VersionName(st.Version) + " " + st.CurveID.String()
}

// writeText sends one masked text frame with a single Write, so it never interleaves with the
// pongs wsutil writes from another goroutine.
func (c *wsConn) writeText(p []byte) error {
	_, err := c.Write(ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame(p))))
	return err
}

// closeNormal sends a masked close 1000 and closes the socket without waiting for the echo.
func (c *wsConn) closeNormal() {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(ws.MustCompileFrame(ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))))
	c.Close()
}

// readMessage returns the next data message; wsutil answers pings and close frames meanwhile.
func (c *wsConn) readMessage() ([]byte, error) {
	data, _, err := wsutil.ReadServerData(c)
	return data, err
}

// registerFlow sends the flow's REGISTER and waits for its 200.
func (c *wsConn) registerFlow(id *flowIdentity, cseq int, deadline time.Time) error {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	if err := c.writeText(id.register(cseq)); err != nil {
		return fmt.Errorf("send REGISTER: %w", err)
	}
	for {
		msg, err := c.readMessage()
		if err != nil {
			return fmt.Errorf("wait for 200: %w", err)
		}
		if id.isOKFor(msg) {
			return nil
		}
	}
}
