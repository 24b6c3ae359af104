package sipmsg

import (
	"fmt"
	"strconv"
)

// Via is one via-parm (RFC 3261 §20.42).
type Via struct {
	Protocol  string // "SIP/2.0"
	Transport string // upper case: UDP TCP TLS SCTP WS WSS ...
	Host      string // IPv6 references keep their brackets
	Port      int    // 0 when absent
	Params    Params
}

// ParseVia parses one Via value (one element of the comma list). LWS is allowed around
// "/", ":", ";" and "=", as in RFC 4475 wsinv.
func ParseVia(s string) (Via, error) {
	var v Via
	p := skipWS(s, 0)
	name, p := token(s, p)
	p = skipWS(s, p)
	if name == "" || p >= len(s) || s[p] != '/' {
		return v, fmt.Errorf("%w: bad protocol in %q", ErrVia, clip(s))
	}
	version, p := token(s, skipWS(s, p+1))
	p = skipWS(s, p)
	if version == "" || p >= len(s) || s[p] != '/' {
		return v, fmt.Errorf("%w: bad protocol in %q", ErrVia, clip(s))
	}
	transport, q := token(s, skipWS(s, p+1))
	p = skipWS(s, q)
	if transport == "" || p == q {
		return v, fmt.Errorf("%w: bad transport in %q", ErrVia, clip(s))
	}
	if equalFold(name, "SIP") && version == "2.0" {
		v.Protocol = "SIP/2.0"
	} else {
		v.Protocol = name + "/" + version
	}
	v.Transport = upper(transport)

	n, err := parseHostPort(s[p:], &v.Host, &v.Port, true)
	if err != nil {
		return Via{}, err
	}
	if v.Params, p, err = parseHeaderParams(s, p+n, ErrVia); err != nil {
		return Via{}, err
	}
	if p = skipWS(s, p); p != len(s) {
		return Via{}, fmt.Errorf("%w: unexpected %q in %q", ErrVia, s[p], clip(s))
	}
	return v, nil
}

// token returns the token at s[p:] and the index after it.
func token(s string, p int) (string, int) {
	start := p
	for p < len(s) && isToken(s[p]) {
		p++
	}
	return s[start:p], p
}

// AppendTo appends the via-parm to dst.
func (v Via) AppendTo(dst []byte) []byte {
	if v.Protocol == "" {
		dst = append(dst, "SIP/2.0"...)
	} else {
		dst = append(dst, v.Protocol...)
	}
	dst = append(dst, '/')
	dst = append(dst, v.Transport...)
	dst = append(dst, ' ')
	dst = append(dst, v.Host...)
	if v.Port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(v.Port), 10)
	}
	return v.Params.AppendTo(dst)
}

// String returns the via-parm, e.g. "SIP/2.0/UDP host:5060;branch=z9hG4bK1".
func (v Via) String() string { return string(v.AppendTo(make([]byte, 0, 64))) }

// Branch returns the branch parameter, "" if absent.
func (v Via) Branch() string {
	b, _ := v.Params.Get("branch")
	return b
}

// HostPort returns host[:port] (the sent-by).
func (v Via) HostPort() string {
	if v.Port == 0 {
		return v.Host
	}
	return v.Host + ":" + strconv.Itoa(v.Port)
}
