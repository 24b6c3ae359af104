package siptransport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// udpReaders is the number of goroutines reading one UDP socket.
const udpReaders = 2

type udpSocket struct {
	conn    *net.UDPConn
	local   netip.AddrPort // bound address
	pktinfo bool           // the kernel reports each datagram's destination address
}

func listenUDP(addr string) (*udpSocket, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20) // best effort; the kernel caps it
	_ = c.SetWriteBuffer(4 << 20)
	s := &udpSocket{conn: c, local: addrPortOf(c.LocalAddr())}
	s.pktinfo = enablePktinfo(c)
	return s, nil
}

// startUDPReadersLocked starts the reader goroutines of s. l.mu is held.
func (l *Layer) startUDPReadersLocked(s *udpSocket) {
	for range udpReaders {
		l.spawnLocked(func() { l.readUDP(s) })
	}
}

// readUDP delivers datagrams until the socket is closed. Each reader owns
// one receive buffer (max+1 bytes, so truncation is detected) for its whole
// life; the handler gets an exact-size copy it owns.
func (l *Layer) readUDP(s *udpSocket) {
	st := &l.udpStats
	buf := make([]byte, l.cfg.MaxMessageBytes+1)
	var oob []byte
	if s.pktinfo {
		oob = make([]byte, pktinfoOOBSize)
	}
	for {
		var (
			n     int
			src   netip.AddrPort
			local = s.local
			err   error
		)
		if oob != nil {
			var oobn int
			n, oobn, _, src, err = s.conn.ReadMsgUDPAddrPort(buf, oob)
			if err == nil {
				if a, ok := parsePktinfo(oob[:oobn]); ok {
					local = netip.AddrPortFrom(a, s.local.Port())
				}
			}
		} else {
			n, src, err = s.conn.ReadFromUDPAddrPort(buf)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors surface here on some systems; keep reading.
			l.log.Debug("siptransport: udp read", "local", s.local, "err", err)
			continue
		}
		if n > l.cfg.MaxMessageBytes {
			st.parseErrors.Add(1)
			l.log.Warn("siptransport: dropping oversize udp datagram", "src", src, "limit", l.cfg.MaxMessageBytes)
			continue
		}
		start := 0
		for start < n && (buf[start] == '\r' || buf[start] == '\n') {
			start++
		}
		if start == n { // empty or pure-CRLF datagram: a keep-alive
			st.keepAlives.Add(1)
			continue
		}
		data := make([]byte, n-start)
		copy(data, buf[start:n])
		st.packetsIn.Add(1)
		st.bytesIn.Add(uint64(len(data)))
		l.h(Packet{
			Data:      data,
			Transport: UDP,
			Source:    netip.AddrPortFrom(src.Addr().Unmap(), src.Port()),
			Local:     local,
		})
	}
}

func (l *Layer) sendUDP(addr netip.AddrPort, msg []byte) error {
	st := &l.udpStats
	if len(msg) > MaxUDPPayload {
		st.sendErrors.Add(1)
		return fmt.Errorf("siptransport: send udp to %v: %d bytes: %w", addr, len(msg), ErrMessageTooLarge)
	}
	s, err := l.udpSocketForSend()
	if err != nil {
		st.sendErrors.Add(1)
		return fmt.Errorf("siptransport: send udp to %v: %w", addr, err)
	}
	if _, err := s.conn.WriteToUDPAddrPort(msg, addr); err != nil {
		st.sendErrors.Add(1)
		return fmt.Errorf("siptransport: send udp to %v: %w", addr, err)
	}
	st.packetsOut.Add(1)
	st.bytesOut.Add(uint64(len(msg)))
	return nil
}

// udpSocketForSend returns the listening UDP socket, or makes an ephemeral
// one (read by its own readers, so replies are delivered) when none is
// configured.
func (l *Layer) udpSocketForSend() (*udpSocket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.udp != nil {
		return l.udp, nil
	}
	s, err := listenUDP(":0")
	if err != nil {
		return nil, fmt.Errorf("ephemeral socket: %w", err)
	}
	l.udp = s
	l.startUDPReadersLocked(s)
	return s, nil
}
