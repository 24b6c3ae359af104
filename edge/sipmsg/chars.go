package sipmsg

import "strings"

// Character classes of RFC 3261 §25.1, as lookup tables.
const (
	cToken       = 1 << iota // token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
	cUnreserved              // alphanum / mark
	cUserExtra               // user-unreserved: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
	cPassExtra               // password extras: "&" / "=" / "+" / "$" / ","
	cParamExtra              // param-unreserved: "[" / "]" / "/" / ":" / "&" / "+" / "$"
	cHeaderExtra             // hnv-unreserved: "[" / "]" / "/" / "?" / ":" / "+" / "$"
	cHost                    // hostname characters, "_" tolerated
)

var charClass = func() (t [256]uint8) {
	set := func(chars string, c uint8) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= c
		}
	}
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	set(alnum+"-.!%*_+`'~", cToken)
	set(alnum+"-_.!~*'()", cUnreserved)
	set("&=+$,;?/", cUserExtra)
	set("&=+$,", cPassExtra)
	set("[]/:&+$", cParamExtra)
	set("[]/?:+$", cHeaderExtra)
	set(alnum+"-._", cHost)
	return t
}()

func isToken(c byte) bool { return charClass[c]&cToken != 0 }

func isTokenString(s string) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&cToken == 0 {
			return false
		}
	}
	return s != ""
}

func isWS(c byte) bool { return c == ' ' || c == '\t' }

// trim removes SP, HT and CR at both ends.
func trim(s string) string { return trimRight(trimLeft(s)) }

func trimLeft(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r') {
		s = s[1:]
	}
	return s
}

func trimRight(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func skipWS(s string, p int) int {
	for p < len(s) && isWS(s[p]) {
		p++
	}
	return p
}

// atoi parses 1*DIGIT (leading zeros allowed) with at most maxDigits significant digits.
func atoi(s string, maxDigits int) (int, bool) {
	if s == "" {
		return 0, false
	}
	n, sig := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > 0 || c != '0' {
			if sig++; sig > maxDigits {
				return 0, false
			}
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold is an ASCII case-insensitive comparison.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// upper returns s in ASCII upper case, without allocating when it already is.
func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

// quotedEnd returns the index just past the quoted-string starting at s[p] == '"',
// or -1 if it is not closed. quoted-pair = "\" %x00-09 / %x0B-0C / %x0E-7F.
func quotedEnd(s string, p int) int {
	for i := p + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || s[i+1] == '\r' || s[i+1] == '\n' {
				return -1
			}
			i++
		case '"':
			return i + 1
		case '\r', '\n':
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validChars reports whether s is 1*(class / escaped), escaped = "%" HEX HEX.
func validChars(s string, class uint8) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if charClass[c]&class == 0 {
			return false
		}
	}
	return s != ""
}
