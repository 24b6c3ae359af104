package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// startLocal runs `sipws local` with cfg and extra args until the test ends; it returns once
// /readyz answers.
func startLocal(t *testing.T, dir, cfg, adminAddr string, args ...string) *exec.Cmd {
	t.Helper()
	cfgPath := filepath.Join(dir, "sipws.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(sipwsBin, append([]string{"local", "--config", cfgPath}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sipws output:\n%s", out.String())
		}
	})
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
		case err := <-exited:
			t.Fatalf("sipws exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %s", waitLong)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd
}

func (c *wsConn) sip(t *testing.T, msg string) string {
	t.Helper()
	if err := c.write(ws.OpText, []byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	for {
		h, p, err := c.read(waitLong)
		if err != nil {
			t.Fatalf("no answer to %s: %v", strings.SplitN(msg, "\n", 2)[0], err)
		}
		if h.OpCode == ws.OpText || h.OpCode == ws.OpBinary {
			return string(p)
		}
	}
}

// Local mode routes to the built-in registrar; with --nats-store its bindings outlive the
// process. A process that dies leaves its bindings (requests skip contacts whose flow is gone);
// one that shuts down closes its flows, and closed flows take their bindings with them.
func TestLocalModeRegistrar(t *testing.T) {
	t.Parallel()
	dir, store := t.TempDir(), t.TempDir()
	addrs := freeAddrs(t, 3)
	wsAddr, adminAddr, routerAddr := addrs[0], addrs[1], addrs[2]
	cfg := fmt.Sprintf(`gateway: cmdreg
drainTimeout: 1s
listeners:
  - {name: ws, address: %s, protocol: ws}
admin: {address: %s}
router:
  listen: {udp: %s, tcp: %s}
  routes:
    - name: registrar
      upstream: {registrar: {}}
`, wsAddr, adminAddr, routerAddr, routerAddr)
	register := func(user string, cseq int, contact string) string {
		c := dialWS(t, "ws://"+wsAddr+"/", nil)
		return c.sip(t, fmt.Sprintf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/WS a.invalid;branch=z9hG4bKlocal%d
Max-Forwards: 70
From: <sip:%s@example.com>;tag=1
To: <sip:%s@example.com>
Call-ID: local-reg-%s
CSeq: %d REGISTER
Supported: path
%sContent-Length: 0

`, cseq, user, user, user, cseq, contact))
	}
	listed := func(resp, user string) bool {
		if !strings.HasPrefix(resp, "SIP/2.0 200") {
			t.Fatalf("REGISTER answer:\n%s", resp)
		}
		return strings.Contains(resp, "Contact: <sip:"+user+"@")
	}
	stop := func(cmd *exec.Cmd, sig syscall.Signal) {
		_ = cmd.Process.Signal(sig)
		_, _ = cmd.Process.Wait()
	}

	cmd := startLocal(t, dir, cfg, adminAddr, "--nats-store", store)
	resp := register("alice", 1, "Contact: <sip:alice@a.invalid;transport=ws>;expires=600\n")
	if !listed(resp, "alice") || !strings.Contains(resp, "Path: <sip:") {
		t.Fatalf("REGISTER answer:\n%s", resp)
	}
	stop(cmd, syscall.SIGKILL)

	cmd = startLocal(t, dir, cfg, adminAddr, "--nats-store", store)
	if !listed(register("alice", 2, ""), "alice") {
		t.Fatal("alice's binding did not survive the restart")
	}
	if !listed(register("bob", 1, "Contact: <sip:bob@b.invalid;transport=ws>;expires=600\n"), "bob") {
		t.Fatal("bob not registered")
	}
	stop(cmd, syscall.SIGTERM)

	startLocal(t, dir, cfg, adminAddr, "--nats-store", store)
	if listed(register("bob", 2, ""), "bob") {
		t.Fatal("bob's binding outlived its flow, closed by the graceful shutdown")
	}
}
