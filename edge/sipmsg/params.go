package sipmsg

import (
	"fmt"
	"strings"
)

// Param is one ";name[=value]" parameter. Value is as written (quoted strings keep their
// quotes, escapes stay escaped).
type Param struct {
	Name, Value string
	HasValue    bool
}

// Params is an ordered parameter list; lookups ignore case. Copies of a struct holding
// Params share the array: clone it before editing a copy in place.
type Params []Param

func (p Params) index(name string) int {
	for i := range p {
		if equalFold(p[i].Name, name) {
			return i
		}
	}
	return -1
}

// Get returns the value of the first parameter with that name and whether it is present.
func (p Params) Get(name string) (string, bool) {
	if i := p.index(name); i >= 0 {
		return p[i].Value, true
	}
	return "", false
}

// Has reports whether the parameter is present, with or without a value.
func (p Params) Has(name string) bool { return p.index(name) >= 0 }

// Set replaces the value of the first parameter with that name, or appends one.
func (p *Params) Set(name, value string) {
	if i := p.index(name); i >= 0 {
		(*p)[i].Value, (*p)[i].HasValue = value, true
		return
	}
	*p = append(*p, Param{Name: name, Value: value, HasValue: true})
}

// SetFlag makes the parameter valueless ("lr"), adding it if absent.
func (p *Params) SetFlag(name string) {
	if i := p.index(name); i >= 0 {
		(*p)[i].Value, (*p)[i].HasValue = "", false
		return
	}
	*p = append(*p, Param{Name: name})
}

// Del removes every parameter with that name.
func (p *Params) Del(name string) {
	out := (*p)[:0]
	for _, x := range *p {
		if !equalFold(x.Name, name) {
			out = append(out, x)
		}
	}
	clear((*p)[len(out):])
	if len(out) == 0 {
		out = nil
	}
	*p = out
}

// AppendTo appends ";name=value;flag..." to dst.
func (p Params) AppendTo(dst []byte) []byte {
	for _, x := range p {
		dst = append(dst, ';')
		dst = append(dst, x.Name...)
		if x.HasValue {
			dst = append(dst, '=')
			dst = append(dst, x.Value...)
		}
	}
	return dst
}

// String returns ";name=value;flag...".
func (p Params) String() string { return string(p.AppendTo(nil)) }

// parseHeaderParams parses *(SEMI generic-param) of a header value from s[p:], where
// SEMI and EQUAL allow white space around them (RFC 3261 §25.1). It stops at the first
// character that cannot continue the list and returns its index.
func parseHeaderParams(s string, p int, sentinel error) (Params, int, error) {
	var out Params
	for {
		q := skipWS(s, p)
		if q >= len(s) || s[q] != ';' {
			return out, p, nil
		}
		if out == nil {
			out = make(Params, 0, strings.Count(s[q:], ";"))
		}
		q = skipWS(s, q+1)
		start := q
		for q < len(s) && isToken(s[q]) {
			q++
		}
		if q == start {
			return nil, 0, fmt.Errorf("%w: empty parameter name in %q", sentinel, clip(s))
		}
		prm := Param{Name: s[start:q]}
		p = q
		if q = skipWS(s, q); q < len(s) && s[q] == '=' {
			q = skipWS(s, q+1)
			start = q
			if q < len(s) && s[q] == '"' {
				if q = quotedEnd(s, q); q < 0 {
					return nil, 0, fmt.Errorf("%w: unterminated quoted string in %q", sentinel, clip(s))
				}
			} else {
				// gen-value = token / host / quoted-string; host covers IPv6 with and
				// without brackets (RFC 5118 §4.5 received=2001:db8::9:255). UTF-8 is
				// tolerated.
				for q < len(s) && (isToken(s[q]) || s[q] == ':' || s[q] == '[' || s[q] == ']' || s[q] >= 0x80) {
					q++
				}
			}
			if q == start {
				return nil, 0, fmt.Errorf("%w: empty value of parameter %q", sentinel, prm.Name)
			}
			prm.Value, prm.HasValue = s[start:q], true
			p = q
		}
		out = append(out, prm)
	}
}

// parseURIParams parses *( ";" uri-parameter ) from s[p:], no white space allowed:
// pname [ "=" pvalue ] with paramchar = param-unreserved / unreserved / escaped.
func parseURIParams(s string, p int) (Params, int, error) {
	var out Params
	for p < len(s) && s[p] == ';' {
		if out == nil {
			out = make(Params, 0, strings.Count(s[p:], ";"))
		}
		p++
		end := p
		for end < len(s) && s[end] != ';' && s[end] != '?' {
			end++
		}
		name, value, has := strings.Cut(s[p:end], "=")
		if !validChars(name, cUnreserved|cParamExtra) || (has && !validChars(value, cUnreserved|cParamExtra)) {
			return nil, 0, fmt.Errorf("%w: bad parameter %q", ErrURI, clip(s[p:end]))
		}
		out = append(out, Param{Name: name, Value: value, HasValue: has})
		p = end
	}
	return out, p, nil
}
