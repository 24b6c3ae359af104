package sipmsg

import (
	"fmt"
	"strings"
)

// NameAddr is the value of From, To, Contact, Route, Record-Route, Path and the like:
// name-addr or addr-spec followed by header parameters (RFC 3261 §20.10).
type NameAddr struct {
	Display string // as written, quotes included; "" if none
	URI     URI
	Params  Params // header parameters after '>' (or after the addr-spec)
	Star    bool   // Contact: *
}

// ParseNameAddr parses one value. In the addr-spec form (no <>) everything from the first
// ';' on is header parameters, as RFC 3261 §20 prescribes.
func ParseNameAddr(s string) (NameAddr, error) {
	var n NameAddr
	s = trim(s)
	if s == "*" {
		n.Star = true
		return n, nil
	}
	if s == "" {
		return n, fmt.Errorf("%w: empty", ErrNameAddr)
	}

	// Either a display name (quoted-string, or tokens separated by LWS) followed by '<',
	// or an addr-spec, whose scheme ends at a ':' that no display name can contain.
	p := 0
	if s[0] == '"' {
		if p = quotedEnd(s, 0); p < 0 {
			return NameAddr{}, fmt.Errorf("%w: unterminated display name in %q", ErrNameAddr, clip(s))
		}
		n.Display = s[:p]
		if p = skipWS(s, p); p >= len(s) || s[p] != '<' {
			return NameAddr{}, fmt.Errorf("%w: no <URI> after the display name in %q", ErrNameAddr, clip(s))
		}
	} else {
		for p < len(s) && (isToken(s[p]) || isWS(s[p])) {
			p++
		}
		if p < len(s) && s[p] == '<' {
			n.Display = trimRight(s[:p])
		} else {
			p = 0
		}
	}

	var rawURI string
	if p < len(s) && s[p] == '<' {
		end := strings.IndexByte(s[p:], '>')
		if end < 0 {
			return NameAddr{}, fmt.Errorf("%w: no '>' in %q", ErrNameAddr, clip(s))
		}
		rawURI = s[p+1 : p+end]
		p += end + 1
	} else {
		for p < len(s) && s[p] != ';' && !isWS(s[p]) {
			p++
		}
		rawURI = s[:p]
	}
	u, err := ParseURI(rawURI)
	if err != nil {
		return NameAddr{}, fmt.Errorf("%w: %w", ErrNameAddr, err)
	}
	n.URI = u
	if n.Params, p, err = parseHeaderParams(s, p, ErrNameAddr); err != nil {
		return NameAddr{}, err
	}
	if p = skipWS(s, p); p != len(s) {
		return NameAddr{}, fmt.Errorf("%w: unexpected %q in %q", ErrNameAddr, s[p], clip(s))
	}
	return n, nil
}

// AppendTo appends the value to dst, always in the <uri> form.
func (n NameAddr) AppendTo(dst []byte) []byte {
	if n.Star {
		return append(dst, '*') // Contact: * takes no parameters
	}
	if n.Display != "" {
		dst = append(dst, n.Display...)
		dst = append(dst, ' ')
	}
	dst = append(dst, '<')
	dst = n.URI.AppendTo(dst)
	dst = append(dst, '>')
	return n.Params.AppendTo(dst)
}

// String returns the value, always in the <uri> form.
func (n NameAddr) String() string { return string(n.AppendTo(make([]byte, 0, 64))) }

// Tag returns the tag parameter, "" if absent.
func (n NameAddr) Tag() string {
	t, _ := n.Params.Get("tag")
	return t
}
