package sipmsg

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// URI is a parsed URI. sip and sips URIs (RFC 3261 §19.1) are split into their parts;
// any other scheme (tel, urn, http, ...) keeps everything after the colon in Opaque.
type URI struct {
	Scheme   string // lower case: sip, sips, tel, ...
	User     string // as written, escapes kept
	Password string
	Host     string // IPv6 references keep their brackets
	Port     int    // 0 when absent
	Params   Params
	Headers  string // after '?', raw
	Opaque   string // non-sip schemes: everything after ':'
}

// ParseURI parses a URI as it appears in a Request-URI or inside <...>. It does not trim
// white space: a URI with spaces is malformed (RFC 4475 badaspec).
func ParseURI(s string) (URI, error) {
	var u URI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !isScheme(s[:colon]) {
		return u, fmt.Errorf("%w: no scheme in %q", ErrURI, clip(s))
	}
	u.Scheme = lowerScheme(s[:colon])
	rest := s[colon+1:]
	if rest == "" {
		return URI{}, fmt.Errorf("%w: nothing after the scheme in %q", ErrURI, clip(s))
	}
	if u.Scheme != "sip" && u.Scheme != "sips" {
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
				return URI{}, fmt.Errorf("%w: bad character in %q", ErrURI, clip(s))
			}
		}
		u.Opaque = rest
		return u, nil
	}

	// userinfo: '@' appears nowhere else in a valid sip URI (not in params or headers),
	// and user may contain ';' '?' '/' ',' (RFC 4475 semiuri, intmeth).
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		if !validChars(user, cUnreserved|cUserExtra) {
			return URI{}, fmt.Errorf("%w: bad user part in %q", ErrURI, clip(s))
		}
		if hasPass && pass != "" && !validChars(pass, cUnreserved|cPassExtra) {
			return URI{}, fmt.Errorf("%w: bad password in %q", ErrURI, clip(s))
		}
		u.User, u.Password = user, pass
		rest = rest[at+1:]
	}

	p, err := parseHostPort(rest, &u.Host, &u.Port, false)
	if err != nil {
		return URI{}, err
	}
	if u.Params, p, err = parseURIParams(rest, p); err != nil {
		return URI{}, err
	}
	if p < len(rest) {
		if rest[p] != '?' {
			return URI{}, fmt.Errorf("%w: unexpected %q in %q", ErrURI, rest[p], clip(s))
		}
		u.Headers = rest[p+1:]
		// hname "=" hvalue *( "&" ... ): '=' and '&' come with the password class.
		if !validChars(u.Headers, cUnreserved|cHeaderExtra|cPassExtra) {
			return URI{}, fmt.Errorf("%w: bad headers in %q", ErrURI, clip(s))
		}
	}
	return u, nil
}

// parseHostPort parses host [ ":" port ] at the start of s. With lws (Via sent-by) white
// space may surround the colon. It returns the index after the port.
func parseHostPort(s string, host *string, port *int, lws bool) (int, error) {
	sentinel := ErrURI
	if lws {
		sentinel = ErrVia
	}
	p := 0
	if s != "" && s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || !validIPv6(s[1:end]) {
			return 0, fmt.Errorf("%w: bad IPv6 reference in %q", sentinel, clip(s))
		}
		p = end + 1
	} else {
		for p < len(s) && charClass[s[p]]&cHost != 0 {
			p++
		}
		if !validHostname(s[:p]) {
			return 0, fmt.Errorf("%w: bad host in %q", sentinel, clip(s))
		}
	}
	*host = s[:p]
	q := p
	if lws {
		q = skipWS(s, q)
	}
	if q < len(s) && s[q] == ':' {
		q++
		if lws {
			q = skipWS(s, q)
		}
		start := q
		for q < len(s) && '0' <= s[q] && s[q] <= '9' {
			q++
		}
		n, ok := atoi(s[start:q], 5)
		if !ok || n == 0 || n > 65535 {
			return 0, fmt.Errorf("%w: bad port in %q", sentinel, clip(s))
		}
		*port = n
		p = q
	}
	return p, nil
}

func validIPv6(s string) bool {
	if strings.IndexByte(s, ':') < 0 || strings.IndexByte(s, '%') >= 0 {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// validHostname accepts hostname (labels of alphanum, "-", "_" tolerated, optional
// trailing dot) and IPv4address; a name of digits and dots only must be an IPv4 address.
func validHostname(h string) bool {
	if h == "" {
		return false
	}
	numeric := true
	label := 0
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		default:
			if c < '0' || c > '9' {
				numeric = false
			}
			label++
		}
	}
	if numeric {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is4()
	}
	return true
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := 'a' <= lower(c) && lower(c) <= 'z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// lowerScheme lower-cases a scheme without allocating for the common ones.
func lowerScheme(s string) string {
	switch {
	case equalFold(s, "sip"):
		return "sip"
	case equalFold(s, "sips"):
		return "sips"
	case equalFold(s, "tel"):
		return "tel"
	}
	return lowerString(s)
}

// AppendTo appends the URI to dst.
func (u URI) AppendTo(dst []byte) []byte {
	if u.Scheme == "" {
		dst = append(dst, "sip"...)
	} else {
		dst = append(dst, u.Scheme...)
	}
	dst = append(dst, ':')
	if u.Opaque != "" {
		return append(dst, u.Opaque...)
	}
	if u.User != "" || u.Password != "" {
		dst = append(dst, u.User...)
		if u.Password != "" {
			dst = append(dst, ':')
			dst = append(dst, u.Password...)
		}
		dst = append(dst, '@')
	}
	dst = u.appendHostPort(dst)
	dst = u.Params.AppendTo(dst)
	if u.Headers != "" {
		dst = append(dst, '?')
		dst = append(dst, u.Headers...)
	}
	return dst
}

func (u URI) appendHostPort(dst []byte) []byte {
	dst = append(dst, u.Host...)
	if u.Port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(u.Port), 10)
	}
	return dst
}

// String returns the URI in its textual form.
func (u URI) String() string { return string(u.AppendTo(nil)) }

// HostPort returns host[:port].
func (u URI) HostPort() string {
	if u.Port == 0 {
		return u.Host
	}
	return string(u.appendHostPort(nil))
}
