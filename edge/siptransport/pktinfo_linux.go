package siptransport

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// pktinfoOOBSize fits one IPv6 (or IPv4) packet-info control message.
var pktinfoOOBSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo)

// enablePktinfo asks the kernel to report each datagram's destination
// address, so Packet.Local is exact even on a wildcard socket. On an IPv6
// socket IPv4 datagrams are reported as v4-mapped addresses.
func enablePktinfo(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	v4 := addrPortOf(c.LocalAddr()).Addr().Is4()
	_ = rc.Control(func(fd uintptr) {
		if v4 {
			ok = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) == nil
		} else {
			ok = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) == nil
		}
	})
	return ok
}

// parsePktinfo extracts the destination address from control messages
// without allocating.
func parsePktinfo(oob []byte) (netip.Addr, bool) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return netip.Addr{}, false
		}
		oob = rest
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			return netip.AddrFrom4([4]byte(data[8:12])), true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			return netip.AddrFrom16([16]byte(data[0:16])).Unmap(), true
		}
	}
	return netip.Addr{}, false
}
