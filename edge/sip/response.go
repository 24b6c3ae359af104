package sip

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNoResponse is returned by Response for messages that must not be answered: responses and
// ACK (RFC 3261 §17.1.1.3, ACK is never answered).
var ErrNoResponse = errors.New("sip: message must not be answered")

// Response builds a stateless response to the request req (RFC 3261 §8.2.6): the status line,
// every Via in order with its value as sent, From, To (with a tag added when it has none),
// Call-ID, CSeq, the extra header lines ("Name: value"), and "Content-Length: 0".
//
// The added To tag is the hex FNV-1a hash of the Call-ID and the top Via branch, so a
// retransmission gets the same tag without any state. Folded values are unfolded (a line break
// and its indentation become one SP) so the response never mixes LF and CRLF line ends.
// It returns the Check error when req is not valid, ErrNoResponse for responses and ACK,
// ErrStatus for a bad code or reason and ErrHeader for a bad extra line.
func Response(req []byte, code int, reason string, extra ...string) ([]byte, error) {
	m, err := Check(req)
	if err != nil {
		return nil, err
	}
	if !m.Request || string(m.Method) == "ACK" {
		return nil, ErrNoResponse
	}
	if code < 100 || code > 699 {
		return nil, fmt.Errorf("%w: response code %d out of 100..699", ErrStatus, code)
	}
	if hasControl(reason) {
		return nil, fmt.Errorf("%w: control character in reason phrase", ErrStatus)
	}
	size := len("SIP/2.0 000 \r\n") + len(reason) + m.HeaderEnd + len(";tag=00000000") + len("Content-Length: 0\r\n\r\n")
	for _, h := range extra {
		if err := checkExtra(h); err != nil {
			return nil, err
		}
		size += len(h) + 2
	}

	out := make([]byte, 0, size+32) // slack for full names replacing compact ones
	out = append(out, "SIP/2.0 "...)
	out = append(out, byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10), ' ')
	out = append(out, reason...)
	out = append(out, "\r\n"...)

	var from, to, callID, cseq, topVia []byte
	s := newFields(req[:m.HeaderEnd])
	for {
		name, v, ok := s.next()
		if !ok {
			break
		}
		switch {
		case eqFold(name, "via") || eqFold(name, "v"):
			if topVia == nil {
				topVia = v
			}
			out = appendField(out, "Via: ", v)
		case from == nil && (eqFold(name, "from") || eqFold(name, "f")):
			from = v
		case to == nil && (eqFold(name, "to") || eqFold(name, "t")):
			to = v
		case callID == nil && (eqFold(name, "call-id") || eqFold(name, "i")):
			callID = v
		case cseq == nil && eqFold(name, "cseq"):
			cseq = v
		}
	}
	if from != nil {
		out = appendField(out, "From: ", from)
	}
	if to != nil {
		out = appendField(out, "To: ", to)
		// A To with an unterminated quote or '<' is left alone: a tag appended to it would be
		// read as part of the display name or URI, not as a header parameter.
		params, ok := headerParams(to)
		if _, tagged := param(params, "tag", false); ok && !tagged {
			out = out[:len(out)-2] // reopen the line to add the tag
			out = append(out, ";tag="...)
			out = appendHex32(out, toTag(callID, viaBranch(topVia)))
			out = append(out, "\r\n"...)
		}
	}
	if callID != nil {
		out = appendField(out, "Call-ID: ", callID)
	}
	if cseq != nil {
		out = appendField(out, "CSeq: ", cseq)
	}
	for _, h := range extra {
		out = append(out, h...)
		out = append(out, "\r\n"...)
	}
	out = append(out, "Content-Length: 0\r\n\r\n"...)
	return out, nil
}

// checkExtra accepts one "Name: value" header line: a token name, a colon, no control
// characters (which could split the line or smuggle another header), and not Content-Length,
// which Response writes itself.
func checkExtra(h string) error {
	n := 0
	for n < len(h) && isToken[h[n]] {
		n++
	}
	j := n
	for j < len(h) && (h[j] == ' ' || h[j] == '\t') {
		j++
	}
	switch {
	case n == 0 || j == len(h) || h[j] != ':':
		return fmt.Errorf("%w: extra header line wants \"Name: value\"", ErrHeader)
	case hasControl(h):
		return fmt.Errorf("%w: control character in extra header line", ErrHeader)
	case isContentLength(h[:n]):
		return fmt.Errorf("%w: extra Content-Length (Response writes its own)", ErrHeader)
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// appendField appends "name value CRLF", unfolding v: each line break with the whitespace
// around it becomes one SP.
func appendField(out []byte, name string, v []byte) []byte {
	out = append(out, name...)
	for {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			out = append(out, v...)
			break
		}
		out = append(out, trimLWS(v[:i])...)
		out = append(out, ' ')
		v = trimLWS(v[i+1:])
	}
	return append(out, "\r\n"...)
}

// headerParams returns the header parameters of a name-addr or addr-spec value (From, To):
// what follows the '>' when the URI is enclosed, else what follows the first ';' (RFC 3261
// §20.10: without <> the URI's own parameters are header parameters). ok is false when a
// quoted string or '<' is unterminated, so that a parameter appended to v would not be one.
func headerParams(v []byte) (params []byte, ok bool) {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			if i = skipQuoted(v, i); i == len(v) {
				return nil, false
			}
		case '<':
			j := bytes.IndexByte(v[i:], '>')
			if j < 0 {
				return nil, false
			}
			rest := v[i+j+1:]
			k := bytes.IndexByte(rest, ';')
			if k < 0 {
				return nil, true
			}
			return rest[k+1:], paramsClosed(rest[k+1:])
		case ';':
			return v[i+1:], paramsClosed(v[i+1:])
		}
	}
	return nil, true
}

// paramsClosed reports whether params ends outside a quoted string.
func paramsClosed(params []byte) bool {
	for i := 0; i < len(params); i++ {
		if params[i] == '"' {
			if i = skipQuoted(params, i); i == len(params) {
				return false
			}
		}
	}
	return true
}

// viaBranch returns the branch parameter of the first via-parm of a Via value, or nil.
func viaBranch(v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ',':
			return nil
		case ';':
			b, _ := param(v[i+1:], "branch", true)
			return b
		}
	}
	return nil
}

// param finds the parameter name in params ("a=1;b;c=2", LWS allowed, quoted values skipped)
// and returns its trimmed value and whether it is present. In a list header (list), a ','
// outside quotes ends the element and the search.
func param(params []byte, name string, list bool) ([]byte, bool) {
	for len(params) > 0 {
		end, last := len(params), true
	scan:
		for i := 0; i < len(params); i++ {
			switch params[i] {
			case '"':
				i = skipQuoted(params, i)
			case ';':
				end, last = i, false
				break scan
			case ',':
				if list {
					end = i
					break scan
				}
			}
		}
		p := params[:end]
		k, v := p, []byte(nil)
		if eq := bytes.IndexByte(p, '='); eq >= 0 {
			k, v = p[:eq], p[eq+1:]
		}
		if eqFold(trimLWS(k), name) {
			return trimLWS(v), true
		}
		if last {
			break
		}
		params = params[end+1:]
	}
	return nil, false
}

// skipQuoted returns the index of the quote closing the quoted string opened at v[i]
// (backslash escapes honoured), or len(v) when it is unterminated.
func skipQuoted(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(v)
}

// toTag hashes the Call-ID and top Via branch with 32-bit FNV-1a (RFC 3261 §19.3 asks for at
// least 32 bits); inlined rather than hash/fnv to stay allocation-free.
func toTag(callID, branch []byte) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for _, c := range callID {
		h = (h ^ uint32(c)) * prime
	}
	h *= prime // a 0 separator byte, so "ab"+"c" and "a"+"bc" differ
	for _, c := range branch {
		h = (h ^ uint32(c)) * prime
	}
	return h
}

func appendHex32(out []byte, h uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		out = append(out, digits[h>>uint(shift)&0xf])
	}
	return out
}
