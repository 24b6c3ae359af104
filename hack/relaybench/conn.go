package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// flowConn carries the SIP messages of one flow: a WebSocket connection or a UDP socket.
type flowConn interface {
	// send writes one SIP message (safe for concurrent use with recv).
	send(msg []byte) error
	// recv returns the next SIP message; the slice is valid until the next recv.
	recv() ([]byte, error)
	SetReadDeadline(t time.Time) error
	Close() error
	// via is the sent-by of the Via header and host of the Contact, transport the Via protocol.
	via() (transport, sentBy string)
}

// wsFlow is a client WebSocket connection with just the framing the benchmark needs: masked
// text frames out (one write each), unmasked frames in, pings answered.
type wsFlow struct {
	net.Conn
	r    *bufio.Reader
	rbuf []byte
	wmu  sync.Mutex
	wbuf []byte
	host string
}

var errClosed = errors.New("websocket closed by the server")

func dialWS(ctx context.Context, url string) (*wsFlow, error) {
	d := ws.Dialer{
		Protocols: []string{"sip"},
		Header:    ws.HandshakeHeaderHTTP(http.Header{"Origin": {"https://relaybench.test"}}),
	}
	conn, br, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if hs.Protocol != "sip" {
		conn.Close()
		return nil, fmt.Errorf("server did not select subprotocol sip")
	}
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	return &wsFlow{Conn: conn, r: bufio.NewReaderSize(src, 16<<10), rbuf: make([]byte, 0, 4096),
		host: fmt.Sprintf("%012x.invalid", rand.Uint64()>>16)}, nil
}

func (c *wsFlow) via() (string, string) { return "WS", c.host }

func (c *wsFlow) send(msg []byte) error { return c.writeFrame(ws.OpText, msg) }

func (c *wsFlow) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	b = append(b, 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	b = append(b, key[:]...)
	off := len(b)
	b = append(b, p...)
	for i := range b[off:] {
		b[off+i] ^= key[i&3]
	}
	c.wbuf = b
	_, err := c.Write(b)
	return err
}

func (c *wsFlow) recv() ([]byte, error) {
	msg := c.rbuf[:0]
	var hdr [14]byte
	for {
		if _, err := io.ReadFull(c.r, hdr[:2]); err != nil {
			return nil, err
		}
		fin, op := hdr[0]&0x80 != 0, ws.OpCode(hdr[0]&0x0f)
		masked, n := hdr[1]&0x80 != 0, uint64(hdr[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.r, hdr[2:4]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.r, hdr[2:10]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var key [4]byte
		if masked {
			if _, err := io.ReadFull(c.r, key[:]); err != nil {
				return nil, err
			}
		}
		off := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, msg[off:]); err != nil {
			return nil, err
		}
		if masked {
			for i := range msg[off:] {
				msg[off+i] ^= key[i&3]
			}
		}
		switch op {
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if fin {
				c.rbuf = msg
				return msg, nil
			}
		case ws.OpPing:
			payload := append([]byte(nil), msg[off:]...)
			msg = msg[:off]
			if err := c.writeFrame(ws.OpPong, payload); err != nil {
				return nil, err
			}
		case ws.OpPong:
			msg = msg[:off]
		case ws.OpClose:
			return nil, errClosed
		default:
			return nil, fmt.Errorf("websocket opcode %d", op)
		}
	}
}

// closeNormal sends close 1000 and closes the socket.
func (c *wsFlow) Close() error {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.writeFrame(ws.OpClose, []byte{0x03, 0xe8})
	return c.Conn.Close()
}

// udpFlow is a connected UDP socket: the baseline, straight to the SIP server.
type udpFlow struct {
	*net.UDPConn
	buf    []byte
	sentBy string
}

func dialUDP(addr string) (*udpFlow, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: ra.IP}, ra)
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(1 << 20)
	return &udpFlow{UDPConn: c, buf: make([]byte, 65536), sentBy: c.LocalAddr().String()}, nil
}

func (u *udpFlow) via() (string, string) { return "UDP", u.sentBy }
func (u *udpFlow) send(msg []byte) error {
	_, err := u.Write(msg)
	return err
}
func (u *udpFlow) recv() ([]byte, error) {
	n, err := u.Read(u.buf)
	return u.buf[:n], err
}
