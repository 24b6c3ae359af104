// Package ws parses and builds WebSocket frames (RFC 6455 §5) on byte slices, for the edge's
// poller: input arrives in arbitrary pieces, so parsing works on whatever bytes are buffered
// and reports how much it consumed. Unmasking uses gobwas/ws's word-at-a-time cipher.
package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Close status codes the edge sends (RFC 6455 §7.4.1).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseNoStatus        uint16 = 1005 // never sent on the wire
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseTooBig          uint16 = 1009
	CloseInternalError   uint16 = 1011
)

// Errors from ParseFrame. Each maps to the close code the connection must end with.
var (
	ErrProtocol = errors.New("websocket protocol error")  // 1002
	ErrTooBig   = errors.New("websocket message too big") // 1009
)

// Frame is one parsed client frame; Payload aliases the parsed buffer, already unmasked.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// IsControl reports whether op is a control opcode.
func IsControl(op byte) bool { return op&0x8 != 0 }

// ParseFrame parses one client frame at the start of b, unmasking its payload in place.
// It returns n = 0 and no error when b does not yet hold the whole frame. maxPayload bounds
// one frame's payload; a larger declared length fails at once with ErrTooBig, before its bytes
// arrive, so a client cannot make the edge buffer it.
func ParseFrame(b []byte, maxPayload int) (f Frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	f.Fin = b0&0x80 != 0
	f.Op = b0 & 0x0f
	if b0&0x70 != 0 {
		return f, 0, fmt.Errorf("%w: reserved bits set without an extension", ErrProtocol)
	}
	switch f.Op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return f, 0, fmt.Errorf("%w: unknown opcode %#x", ErrProtocol, f.Op)
	}
	if b1&0x80 == 0 {
		return f, 0, fmt.Errorf("%w: client frame not masked", ErrProtocol)
	}
	length := uint64(b1 & 0x7f)
	hdr := 2
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
		hdr = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		length = binary.BigEndian.Uint64(b[2:10])
		if length>>63 != 0 {
			return f, 0, fmt.Errorf("%w: 64-bit length with the top bit set", ErrProtocol)
		}
		hdr = 10
	}
	if IsControl(f.Op) {
		if !f.Fin {
			return f, 0, fmt.Errorf("%w: fragmented control frame", ErrProtocol)
		}
		if length > 125 {
			return f, 0, fmt.Errorf("%w: control frame payload %d > 125", ErrProtocol, length)
		}
	} else if length > uint64(maxPayload) {
		return f, 0, fmt.Errorf("%w: frame payload %d > %d", ErrTooBig, length, maxPayload)
	}
	if len(b) < hdr+4 {
		return f, 0, nil
	}
	var mask [4]byte
	copy(mask[:], b[hdr:hdr+4])
	hdr += 4
	// Compare in uint64: with a huge maxPayload (math.MaxInt as "no limit"), hdr+int(length)
	// would overflow to a negative end and the slice below would panic.
	if uint64(len(b)-hdr) < length {
		return f, 0, nil
	}
	end := hdr + int(length)
	f.Payload = b[hdr:end]
	gobwas.Cipher(f.Payload, mask, 0)
	return f, end, nil
}

// AppendFrame appends an unmasked, unfragmented server frame.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// AppendClose appends a close frame with code and reason (reason cut to fit 125 bytes).
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	var p [125]byte
	binary.BigEndian.PutUint16(p[:2], code)
	n := 2 + copy(p[2:], reason)
	return AppendFrame(dst, OpClose, p[:n])
}

// FrameSize is the size of a server frame carrying n payload bytes.
func FrameSize(n int) int {
	switch {
	case n <= 125:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	default:
		return 10 + n
	}
}

// ParseClose validates a client close payload (RFC 6455 §5.5.1, §7.4). An empty payload means
// 1005 (no status). A code that may not be sent, or a reason that is not UTF-8, is a protocol
// error.
func ParseClose(p []byte) (code uint16, reason []byte, err error) {
	if len(p) == 0 {
		return CloseNoStatus, nil, nil
	}
	if len(p) == 1 {
		return 0, nil, fmt.Errorf("%w: one-byte close payload", ErrProtocol)
	}
	code = binary.BigEndian.Uint16(p)
	reason = p[2:]
	if !validCloseCode(code) {
		return code, nil, fmt.Errorf("%w: close code %d may not be sent", ErrProtocol, code)
	}
	if !utf8.Valid(reason) {
		return code, nil, fmt.Errorf("%w: close reason is not UTF-8", ErrProtocol)
	}
	return code, reason, nil
}

func validCloseCode(c uint16) bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1011:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}
