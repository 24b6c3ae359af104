package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MatchOrigin reports whether the Origin header value origin is allowed by the allow-list.
// An empty list and "*" allow everything, including a missing Origin (non-browser clients);
// otherwise a missing Origin is refused. Scheme and host compare case-insensitively, a
// default port equals no port (https://a.com == https://a.com:443), and
// "https://*.example.com" matches subdomains at any depth but not example.com itself.
// "null" (sandboxed or file: pages) matches only a "null" entry.
func MatchOrigin(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if a == "*" {
			return true
		}
	}
	if origin == "" {
		return false
	}
	if strings.EqualFold(origin, "null") {
		for _, a := range allowed {
			if strings.EqualFold(a, "null") {
				return true
			}
		}
		return false
	}
	o, err := parseOrigin(origin, false)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		p, err := parseOrigin(a, true)
		if err != nil || p.scheme != o.scheme || p.port != o.port {
			continue
		}
		if p.wildcard {
			if strings.HasSuffix(o.host, "."+p.host) {
				return true
			}
		} else if p.host == o.host {
			return true
		}
	}
	return false
}

// validateOriginPattern checks one allowedOrigins entry.
func validateOriginPattern(s string) error {
	if s == "*" || s == "null" {
		return nil
	}
	_, err := parseOrigin(s, true)
	return err
}

// origin is a parsed, normalised origin: lower case, default port removed, IPs canonical.
type origin struct {
	scheme, host, port string
	wildcard           bool // host is the domain after "*."
}

func parseOrigin(s string, pattern bool) (origin, error) {
	var o origin
	s = strings.ToLower(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return o, fmt.Errorf("%q is not \"*\", \"null\" or scheme://host[:port]", s)
	}
	if !validScheme(scheme) {
		return o, fmt.Errorf("%q: invalid scheme", s)
	}
	if rest == "" {
		return o, fmt.Errorf("%q: missing host", s)
	}
	if strings.ContainsAny(rest, "/?#@") {
		return o, fmt.Errorf("%q: an origin has no path, query, fragment or user", s)
	}
	var host, port string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return o, fmt.Errorf("%q: unclosed '['", s)
		}
		host, rest = rest[1:end], rest[end+1:]
		ip := net.ParseIP(host)
		if ip == nil || ip.To4() != nil && !strings.Contains(host, ":") {
			return o, fmt.Errorf("%q: invalid IPv6 address", s)
		}
		host = ip.String()
		if rest != "" {
			if rest[0] != ':' {
				return o, fmt.Errorf("%q: unexpected %q after host", s, rest)
			}
			port = rest[1:]
			if port == "" {
				return o, fmt.Errorf("%q: empty port", s)
			}
		}
	} else {
		host = rest
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return o, fmt.Errorf("%q: empty port", s)
			}
		}
		if pattern && strings.HasPrefix(host, "*.") {
			o.wildcard = true
			host = host[2:]
		}
		if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
			if o.wildcard {
				return o, fmt.Errorf("%q: a wildcard needs a domain name, not an IP", s)
			}
			host = ip.String()
		} else if !validHostname(host) {
			return o, fmt.Errorf("%q: invalid host", s)
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return o, fmt.Errorf("%q: invalid port", s)
		}
		port = strconv.FormatUint(n, 10)
		if port == defaultPort(scheme) {
			port = ""
		}
	}
	o.scheme, o.host, o.port = scheme, host, port
	return o, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// validScheme follows RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). Non-HTTP schemes
// occur in practice (capacitor://localhost, chrome-extension://id).
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validHostname accepts DNS-like names: dot-separated non-empty labels of [A-Za-z0-9_-],
// at most 63 bytes each and 253 in all.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isTokenByte(label[i]) {
				return false
			}
		}
	}
	return true
}
