package tlsrec

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// sClient runs `openssl s_client` against addr with a hard timeout so a
// misbehaving exchange kills the process instead of hanging the test.
type sClient struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
}

func startSClient(t *testing.T, addr string, args ...string) *sClient {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not installed: hack/install-deps.sh installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	args = append([]string{"s_client", "-connect", addr, "-tls1_3"}, args...)
	s := &sClient{cmd: exec.CommandContext(ctx, path, args...), done: make(chan struct{})}
	s.cmd.WaitDelay = time.Second
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		r   io.Reader
		buf *bytes.Buffer
	}{{stdout, &s.stdout}, {stderr, &s.stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 32<<10)
			for {
				n, err := p.r.Read(b)
				s.mu.Lock()
				p.buf.Write(b[:n])
				s.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitFor waits until the stream (stdout or stderr) contains want count
// times, or fails.
func (s *sClient) waitFor(t *testing.T, stderr bool, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		s.mu.Lock()
		buf := &s.stdout
		if stderr {
			buf = &s.stderr
		}
		got := strings.Count(buf.String(), want)
		s.mu.Unlock()
		if got >= count {
			return
		}
		select {
		case <-s.done:
			// The process exited; one last look happens on the next loop
			// only if output was still being copied, which done excludes.
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("s_client exited before %q x%d appeared\nstdout:\n%s\nstderr:\n%s", want, count, s.stdout.String(), s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timeout waiting for %q\nstdout:\n%s\nstderr:\n%s", want, s.stdout.String(), s.stderr.String())
		}
	}
}

func (s *sClient) send(t *testing.T, text string) {
	t.Helper()
	if _, err := io.WriteString(s.stdin, text); err != nil {
		t.Fatal(err)
	}
}

// opensslServer accepts one connection, reads the line "hello" through the
// tls.Conn (plus, with preKeyUpdate, a KeyUpdate crypto/tls must process
// and the line "pre"), answers, and detaches.
func opensslServer(t *testing.T, ln net.Listener, preKeyUpdate bool, s *sClient) (net.Conn, *State) {
	t.Helper()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(testTimeout))
	h := Server(raw, serverConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := h.Handshake(ctx); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	br := bufio.NewReader(h.Conn())
	expectLine := func(want string) {
		line, err := br.ReadString('\n')
		if err != nil || line != want+"\n" {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
	s.send(t, "hello\n")
	expectLine("hello")
	if preKeyUpdate {
		s.send(t, "K\n")
		s.waitFor(t, true, "KEYUPDATE", 1)
		s.send(t, "pre\n")
		expectLine("pre")
		if h.w.rd.keyUpdateRequests != 1 || h.w.wr.keyUpdates != 1 {
			t.Fatalf("tracked %d requests, %d answers", h.w.rd.keyUpdateRequests, h.w.wr.keyUpdates)
		}
	}
	if br.Buffered() != 0 {
		t.Fatalf("bufio holds %d bytes", br.Buffered())
	}
	if _, err := io.WriteString(h.Conn(), "welcome\n"); err != nil {
		t.Fatal(err)
	}
	st, err := h.Detach()
	if err != nil {
		t.Fatalf("Detach: %v", err)
	}
	s.waitFor(t, false, "welcome\n", 1)
	return raw, st
}

// Interop with OpenSSL for each suite: data of all sizes both ways, then
// the server closes with close_notify.
func TestOpenSSLInterop(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			ln := listen(t)
			s := startSClient(t, ln.Addr().String(), "-ciphersuites", suite.name, "-quiet")
			raw, st := opensslServer(t, ln, false, s)
			if st.Suite() != suite.id {
				t.Fatalf("suite %#04x, want %#04x", st.Suite(), suite.id)
			}
			p := newPeer(raw, st, uint64(suite.id))
			var want strings.Builder
			want.WriteString("welcome\n")
			for i, n := range messageSizes {
				if n == 0 {
					continue // s_client cannot send an empty write
				}
				msg := pattern(i, n)
				msg[n-1] = '\n'
				s.send(t, string(msg))
				got, err := p.readFull(n)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message %d (%d bytes): %v", i, n, err)
				}
				if err := p.write(bytes.ToUpper(got)); err != nil {
					t.Fatal(err)
				}
				want.Write(bytes.ToUpper(got))
				s.waitFor(t, false, string(bytes.ToUpper(got)), 1)
			}
			if _, err := raw.Write(st.SealAlert(nil, AlertCloseNotify)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.done:
			case <-time.After(testTimeout):
				t.Fatal("s_client did not exit after close_notify")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.stdout.String() != want.String() {
				t.Fatalf("stdout differs: got %d bytes, want %d", s.stdout.Len(), want.Len())
			}
		})
	}
}

// KeyUpdate interop: s_client sends KeyUpdate when a line is "k" (not
// requested) or "K" (requested); that needs s_client without -quiet (and
// so without ign_eof). One "K" before Detach is handled by crypto/tls and
// must be followed by the accounting; "k" and "K" after Detach by Open,
// with SealKeyUpdate answering. Closing stdin makes s_client send
// close_notify, which Open reports as io.EOF.
func TestOpenSSLKeyUpdate(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			ln := listen(t)
			s := startSClient(t, ln.Addr().String(), "-ciphersuites", suite.name)
			raw, st := opensslServer(t, ln, true, s)
			p := newPeer(raw, st, 7)
			p.answerKeyUpdates = false // answered by hand below

			exchange := func(line string) {
				t.Helper()
				s.send(t, line+"\n")
				got, err := p.readFull(len(line) + 1)
				if err != nil || string(got) != line+"\n" {
					t.Fatalf("server read %q, %v; want %q", got, err, line)
				}
				if err := p.write([]byte("echo:" + line + "\n")); err != nil {
					t.Fatal(err)
				}
				s.waitFor(t, false, "echo:"+line+"\n", 1)
			}
			exchange("after-detach")

			secret := st.in.secret
			s.send(t, "k\n")
			s.waitFor(t, true, "KEYUPDATE", 2)
			exchange("after-k")
			if st.in.secret == secret || p.ev.KeyUpdateRequested {
				t.Fatal("KeyUpdate(update_not_requested) not applied")
			}

			secret = st.in.secret
			s.send(t, "K\n")
			s.waitFor(t, true, "KEYUPDATE", 3)
			s.send(t, "after-K\n")
			got, err := p.readFull(len("after-K\n"))
			if err != nil || string(got) != "after-K\n" || !p.ev.KeyUpdateRequested || st.in.secret == secret {
				t.Fatalf("after K: %q ev=%+v err=%v", got, p.ev, err)
			}
			p.ev = Events{}
			wsecret := st.out.secret
			if _, err := raw.Write(st.SealKeyUpdate(nil)); err != nil {
				t.Fatal(err)
			}
			if st.out.secret == wsecret || st.out.seq != 0 {
				t.Fatal("SealKeyUpdate did not switch the write key")
			}
			if err := p.write([]byte("echo:after-K\n")); err != nil {
				t.Fatal(err)
			}
			s.waitFor(t, false, "echo:after-K\n", 1)
			exchange("still-working")

			// Client closes: s_client sends close_notify on stdin EOF.
			s.stdin.Close()
			if err := p.readUntilEOF(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.done:
			case <-time.After(testTimeout):
				t.Fatal("s_client did not exit")
			}
		})
	}
}
