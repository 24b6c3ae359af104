package server

import (
	"errors"
	"os"
	"time"

	"github.com/sipws/sipws/edge/ws"
)

// The stream path serves WSS clients that negotiated TLS 1.2, whose record layer stays in
// crypto/tls: one reader and one writer goroutine per flow. Browsers use TLS 1.3 and never
// take this path; it exists so older SIP clients still connect.

func (c *conn) streamReader() {
	defer c.srv.streams.Done()
	w := &scratch{raw: make([]byte, 4096)}
	for {
		if !c.streamCheckClose() {
			return
		}
		n, err := c.stream.Read(w.raw)
		if n > 0 {
			if !c.feedPlain(w, w.raw[:n]) && !c.streamCheckClose() {
				return
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// A kick (close request) or the closing timeout.
				if c.state.Load() == stateClosing && time.Since(time.Unix(0, c.closedAt.Load())) > closeTimeout {
					c.force()
				}
				_ = c.stream.SetReadDeadline(time.Time{})
				if c.state.Load() == stateClosing {
					_ = c.stream.SetReadDeadline(time.Unix(0, c.closedAt.Load()).Add(closeTimeout))
				}
				continue
			}
			c.finish(ws.CloseNoStatus, "peer", "eof")
			return
		}
	}
}

// streamCheckClose is checkClose for the stream path; false means the flow is gone.
func (c *conn) streamCheckClose() bool {
	st := c.state.Load()
	ok := c.checkClose()
	if ok && st == stateCloseReq {
		_ = c.stream.SetReadDeadline(time.Now().Add(closeTimeout))
	}
	return ok
}

func (c *conn) streamWriter() {
	defer c.srv.streams.Done()
	defer c.stream.Close()
	for range c.wake {
		c.wmu.Lock()
		b := c.wq
		c.wq = nil
		closed := c.closed
		c.wmu.Unlock()
		if len(b) == 0 {
			continue
		}
		if !closed {
			_ = c.stream.SetWriteDeadline(time.Now().Add(10 * time.Second))
		}
		if _, err := c.stream.Write(b); err != nil {
			c.force()
		}
	}
	// Closed: the last frames (a close reply) go out before the stream is closed.
	c.wmu.Lock()
	b := c.wq
	c.wq = nil
	c.wmu.Unlock()
	if len(b) > 0 {
		_, _ = c.stream.Write(b)
	}
}
