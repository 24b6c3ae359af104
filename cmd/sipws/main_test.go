package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const waitLong = 10 * time.Second

// sipwsBin is the binary built once by TestMain.
var sipwsBin string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "main_test:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := repoRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "sipws-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	sipwsBin = filepath.Join(dir, "sipws")
	cmd := exec.Command("go", "build", "-o", sipwsBin, "./cmd/sipws")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build ./cmd/sipws: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// freeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are picked, so they differ
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// syncBuffer collects a child's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// wsConn is a minimal WebSocket client.
type wsConn struct {
	conn net.Conn
	r    io.Reader
}

func dialWS(t *testing.T, url string, tlsCfg *tls.Config) *wsConn {
	t.Helper()
	d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second, TLSConfig: tlsCfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	if hs.Protocol != "sip" {
		t.Fatalf("subprotocol %q", hs.Protocol)
	}
	c := &wsConn{conn: conn, r: conn}
	if br != nil {
		c.r = br
	}
	return c
}

func (c *wsConn) write(op ws.OpCode, p []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(p))}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h)
	q := append([]byte(nil), p...)
	ws.Cipher(q, h.Mask, 0)
	b.Write(q)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b.Bytes())
	return err
}

func (c *wsConn) read(timeout time.Duration) (ws.Header, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.r, p)
	return h, p, err
}

// ping checks the flow is up.
func (c *wsConn) ping(t *testing.T) {
	t.Helper()
	if err := c.write(ws.OpPing, []byte("p")); err != nil {
		t.Fatal(err)
	}
	for {
		h, p, err := c.read(waitLong)
		if err != nil {
			t.Fatalf("waiting for pong: %v", err)
		}
		if h.OpCode == ws.OpPong && string(p) == "p" {
			return
		}
	}
}

// awaitClose returns the code of the next close frame, answering it.
func (c *wsConn) awaitClose(timeout time.Duration) (uint16, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, p, err := c.read(time.Until(deadline))
		if err != nil {
			return 0, err
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		if len(p) < 2 {
			return 1005, nil
		}
		code := binary.BigEndian.Uint16(p)
		_ = c.write(ws.OpClose, p[:2])
		return code, nil
	}
}

func TestLocalModeSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addrs := freeAddrs(t, 3)
	wsAddr, wssAddr, adminAddr := addrs[0], addrs[1], addrs[2]
	cfg := fmt.Sprintf(`gateway: cmdtest
node: cmd-node
drainTimeout: 1s
listeners:
  - name: ws
    address: %s
    protocol: ws
  - name: wss
    address: %s
    protocol: wss
    tls:
      certificates:
        - certFile: .local/tls/tls.crt
          keyFile: .local/tls/tls.key
admin:
  address: %s
`, wsAddr, wssAddr, adminAddr)
	cfgPath := filepath.Join(dir, "sipws.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd := exec.Command(sipwsBin, "local", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited; then waitErr is set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	defer func() {
		if t.Failed() {
			t.Logf("sipws output:\n%s", stderr.String())
		}
	}()

	// Ready: /readyz answers 200.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitLong)
	for {
		resp, err := client.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("sipws exited before it was ready: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %s (last: %v)", waitLong, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, ".local/tls/tls.crt")); err != nil {
		t.Errorf("local mode did not create the certificate: %v", err)
	}

	c := dialWS(t, "ws://"+wsAddr+"/", nil)
	c.ping(t)
	cs := dialWS(t, "wss://"+wssAddr+"/", &tls.Config{InsecureSkipVerify: true})
	cs.ping(t)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]*wsConn{"ws": c, "wss": cs} {
		code, err := cl.awaitClose(waitLong)
		if err != nil {
			t.Errorf("%s client: no close after SIGTERM: %v", name, err)
		} else if code != 1001 {
			t.Errorf("%s client: close %d, want 1001", name, code)
		}
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("sipws exit after SIGTERM: %v, want status 0", waitErr)
		}
	case <-time.After(waitLong):
		t.Fatalf("sipws still running %s after SIGTERM", waitLong)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(sipwsBin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("sipws %s: %v\n%s", arg, err, out)
		}
		if !regexp.MustCompile(`^sipws \S+\n$`).Match(out) {
			t.Errorf("sipws %s printed %q, want \"sipws <version>\"", arg, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"edge"}, 1, "--config is required"},
		{[]string{"edge", "--config", "/nonexistent/sipws.yaml"}, 1, "/nonexistent/sipws.yaml"},
		{[]string{"router", "--memory-limit-ratio", "1.5", "--config", "x.yaml"}, 1, "--memory-limit-ratio: memory limit ratio: want 0 (off) to 1, not 1.5"},
		{[]string{"controller", "--memory-limit-ratio", "-1"}, 1, "--memory-limit-ratio"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(sipwsBin, tt.args...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.code {
				t.Fatalf("exit %v, want status %d\n%s", err, tt.code, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q does not mention %q", out, tt.want)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	const valid = `gateway: gw
node: n1
listeners:
  - name: ws
    address: 127.0.0.1:0
    protocol: ws
admin:
  address: "off"
`
	tests := []struct {
		name  string
		yaml  string
		field string
	}{
		{"bad protocol", strings.Replace(valid, "protocol: ws", "protocol: http", 1), "listeners[0].protocol"},
		{"ping interval too short", valid + "keepAlive:\n  pingInterval: 500ms\n", "keepAlive.pingInterval"},
		{"ping not below idle", valid + "keepAlive:\n  pingInterval: 30s\n  idleTimeout: 30s\n", "keepAlive.pingInterval"},
		{"bad gateway", strings.Replace(valid, "gateway: gw", "gateway: a.b", 1), "gateway"},
		{"queue below max message", strings.Replace(valid, "protocol: ws", "protocol: ws\n    limits:\n      maxMessageBytes: 4096\n      sendQueueBytes: 1024", 1), "listeners[0].limits.sendQueueBytes"},
		{"wss without tls", strings.Replace(valid, "protocol: ws", "protocol: wss", 1), "listeners[0].tls"},
		{"unknown field", valid + "bogus: 1\n", "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sipwsBin, "edge", "--config", path)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() == 0 {
					t.Fatalf("exit %v, want a non-zero status\n%s", err, out.String())
				}
			case <-time.After(waitLong):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("sipws edge kept running with an invalid config\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.field) {
				t.Errorf("error does not name %s:\n%s", tt.field, out.String())
			}
		})
	}
}
