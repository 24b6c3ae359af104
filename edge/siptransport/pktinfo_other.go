//go:build !linux

package siptransport

import (
	"net"
	"net/netip"
)

const pktinfoOOBSize = 0

// enablePktinfo is not implemented here: Packet.Local is the bound address.
func enablePktinfo(*net.UDPConn) bool { return false }

func parsePktinfo([]byte) (netip.Addr, bool) { return netip.Addr{}, false }
