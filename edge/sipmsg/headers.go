package sipmsg

import (
	"fmt"
	"slices"
)

// hdrInfo describes a well-known header.
type hdrInfo struct {
	canon   string
	compact byte // compact form letter (RFC 3261 §7.3.3 and extensions), 0 if none
	list    bool // value is a comma-separated list (#rule) that may be split
}

// compactForms maps each compact letter to its header.
var compactForms = [256]string{
	'a': "Accept-Contact", 'b': "Referred-By", 'c': "Content-Type", 'd': "Request-Disposition",
	'e': "Content-Encoding", 'f': "From", 'i': "Call-ID", 'j': "Reject-Contact", 'k': "Supported",
	'l': "Content-Length", 'm': "Contact", 'o': "Event", 'r': "Refer-To", 's': "Subject",
	't': "To", 'u': "Allow-Events", 'v': "Via", 'x': "Session-Expires", 'y': "Identity",
}

// headerTable is keyed by lower-case name. Lists are the headers whose grammar is
// 1#element; the credential and challenge headers (WWW-Authenticate, Authorization, ...)
// and free-text ones (Date, Subject, User-Agent, ...) contain commas that do not
// separate values and are never split.
var headerTable = func() map[string]hdrInfo {
	lists := []string{
		"Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Accept-Resource-Priority",
		"Alert-Info", "Allow", "Allow-Events", "Call-Info", "Contact", "Content-Encoding",
		"Content-Language", "Error-Info", "History-Info", "In-Reply-To", "P-Asserted-Identity",
		"P-Associated-URI", "P-Preferred-Identity", "Path", "Proxy-Require", "Reason",
		"Record-Route", "Reject-Contact", "Request-Disposition", "Require", "Resource-Priority",
		"Route", "Security-Client", "Security-Server", "Security-Verify", "Service-Route",
		"Supported", "Unsupported", "Via", "Warning", "Diversion", "Recv-Info", "Permission-Missing",
		"Trigger-Consent", "Policy-ID",
	}
	others := []string{
		"Authentication-Info", "Authorization", "Call-ID", "Content-Disposition", "Content-Length",
		"Content-Type", "CSeq", "Date", "Event", "Expires", "Flow-Timer", "From", "Identity",
		"Identity-Info", "Max-Forwards", "Max-Breadth", "MIME-Version", "Min-Expires", "Min-SE",
		"Organization", "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "RAck",
		"Refer-Sub", "Refer-To", "Referred-By", "Replaces", "Reply-To", "Retry-After", "RSeq",
		"Server", "Session-Expires", "Session-ID", "SIP-ETag", "SIP-If-Match", "Subject",
		"Subscription-State", "Target-Dialog", "Timestamp", "To", "User-Agent", "WWW-Authenticate",
		"Content-Transfer-Encoding", "Join", "Info-Package", "Geolocation", "Geolocation-Routing",
		"Answer-Mode", "Priv-Answer-Mode", "P-Asserted-Service", "P-Preferred-Service",
		"P-Access-Network-Info", "P-Charging-Vector", "P-Charging-Function-Addresses",
		"P-Called-Party-ID", "P-Visited-Network-ID", "Remote-Party-ID", "Feature-Caps",
		"User-to-User", "Suppress-If-Match", "Encryption", "Hide", "Response-Key",
	}
	compactOf := map[string]byte{}
	for c, n := range compactForms {
		if n != "" {
			compactOf[n] = byte(c)
		}
	}
	t := make(map[string]hdrInfo, len(lists)+len(others))
	add := func(names []string, list bool) {
		for _, n := range names {
			t[lowerString(n)] = hdrInfo{canon: n, compact: compactOf[n], list: list}
		}
	}
	add(lists, true)
	add(others, false)
	return t
}()

func lowerString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

// fastNames are the spellings the router asks for on every message: an exact match
// skips lower-casing and the map.
var fastNames = [...]string{"Via", "Route", "Record-Route", "Path", "Call-ID", "CSeq", "From", "To",
	"Contact", "Max-Forwards", "Content-Length"}

var fastInfo = func() (t [len(fastNames)]hdrInfo) {
	for i, n := range fastNames {
		t[i] = headerTable[lowerString(n)]
	}
	return t
}()

// lookup finds a well-known header by any spelling, compact forms included.
func lookup(name string) (hdrInfo, bool) {
	for i := range fastNames {
		if fastNames[i] == name {
			return fastInfo[i], true
		}
	}
	if len(name) == 1 {
		if n := compactForms[lower(name[0])]; n != "" {
			name = n
		}
	}
	var buf [32]byte
	if len(name) > len(buf) {
		return hdrInfo{}, false
	}
	for i := 0; i < len(name); i++ {
		buf[i] = lower(name[i])
	}
	info, ok := headerTable[string(buf[:len(name)])] // no allocation for a map index
	return info, ok
}

// CanonicalName returns the canonical spelling of a header name: compact forms expand
// ("v" -> "Via") and well-known names get their usual case ("call-id" -> "Call-ID");
// others are returned as given.
func CanonicalName(name string) string {
	if info, ok := lookup(name); ok {
		return info.canon
	}
	return name
}

// matcher matches header names equivalent to one name.
type matcher struct {
	canon   string
	compact byte
	list    bool
}

func matcherFor(name string) matcher {
	if info, ok := lookup(name); ok {
		return matcher{info.canon, info.compact, info.list}
	}
	return matcher{canon: name}
}

func (mt *matcher) match(n string) bool {
	if len(n) == 1 && mt.compact != 0 {
		return lower(n[0]) == mt.compact
	}
	return equalFold(n, mt.canon)
}

func isContentLength(n string) bool {
	if len(n) == 1 {
		return n[0] == 'l' || n[0] == 'L'
	}
	return equalFold(n, "Content-Length")
}

// firstElem returns the first value of v (the whole trimmed v for a non-list header),
// and the rest of v after it (starting at the next value, "" if none).
func (mt *matcher) firstElem(v string) (elem, rest string, ok bool) {
	if !mt.list {
		return v, "", true
	}
	return cutElem(v)
}

// cutElem returns the first non-empty element of a comma-separated list, commas inside
// quoted strings and <...> not counting, and the rest after its comma with empty
// elements and white space skipped.
func cutElem(v string) (elem, rest string, ok bool) {
	for v != "" {
		i := elemEnd(v)
		elem = trim(v[:i])
		if i < len(v) {
			rest = v[i+1:]
		} else {
			rest = ""
		}
		for rest != "" && (rest[0] == ',' || isWS(rest[0])) {
			rest = rest[1:]
		}
		if elem != "" {
			return elem, rest, true
		}
		v = rest
	}
	return "", "", false
}

// elemEnd returns the index of the first separating comma in v, or len(v).
func elemEnd(v string) int {
	angle := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && !angle:
			j := quotedEnd(v, i)
			if j < 0 {
				return len(v) // unbalanced quote: the rest is one element
			}
			i = j - 1
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			return i
		}
	}
	return len(v)
}

// Get returns the value of the first header with that name (compact forms and case
// variants match).
func (m *Msg) Get(name string) (string, bool) {
	mt := matcherFor(name)
	for i := range m.Headers {
		if mt.match(m.Headers[i].Name) {
			return m.Headers[i].Value, true
		}
	}
	return "", false
}

// Values returns all values of that header in order. List headers (Via, Route,
// Record-Route, Path, Contact, Allow, Supported, Require, ...) are split at commas outside
// quotes and <>, empty elements dropped; other headers give one value per line.
func (m *Msg) Values(name string) []string {
	mt := matcherFor(name)
	var out []string
	for i := range m.Headers {
		if !mt.match(m.Headers[i].Name) {
			continue
		}
		v := m.Headers[i].Value
		if !mt.list {
			out = append(out, v)
			continue
		}
		for elem, rest, ok := cutElem(v); ok; elem, rest, ok = cutElem(rest) {
			out = append(out, elem)
		}
	}
	return out
}

// Count returns len(m.Values(name)) without allocating.
func (m *Msg) Count(name string) int {
	mt := matcherFor(name)
	n := 0
	for i := range m.Headers {
		if !mt.match(m.Headers[i].Name) {
			continue
		}
		if !mt.list {
			n++
			continue
		}
		for _, rest, ok := cutElem(m.Headers[i].Value); ok; _, rest, ok = cutElem(rest) {
			n++
		}
	}
	return n
}

// top finds the header holding the first value of name.
func (m *Msg) top(name string) (idx int, elem, rest string) {
	mt := matcherFor(name)
	for i := range m.Headers {
		if mt.match(m.Headers[i].Name) {
			if elem, rest, ok := mt.firstElem(m.Headers[i].Value); ok {
				return i, elem, rest
			}
		}
	}
	return -1, "", ""
}

// TopValue returns the first value of that header: Values(name)[0].
func (m *Msg) TopValue(name string) (string, bool) {
	i, elem, _ := m.top(name)
	return elem, i >= 0
}

// PopValue removes and returns the first value: a header line holding further values is
// rewritten with the rest, otherwise the line is removed.
func (m *Msg) PopValue(name string) (string, bool) {
	i, elem, rest := m.top(name)
	if i < 0 {
		return "", false
	}
	if rest == "" {
		m.Headers = slices.Delete(m.Headers, i, i+1)
	} else {
		h := &m.Headers[i]
		h.Value, h.raw = rest, ""
	}
	return elem, true
}

// SetTopValue replaces the first value in place; false if there is none.
func (m *Msg) SetTopValue(name, value string) bool {
	i, _, rest := m.top(name)
	if i < 0 {
		return false
	}
	h := &m.Headers[i]
	if rest != "" {
		value += ", " + rest
	}
	h.Value, h.raw = value, ""
	return true
}

// Prepend adds a header line: a Via at the top of the headers, any other header before
// the first one of that name, or at the end if there is none.
func (m *Msg) Prepend(name, value string) {
	h := Header{Name: name, Value: value}
	mt := matcherFor(name)
	at := len(m.Headers)
	if mt.canon == "Via" {
		at = 0
	} else {
		for i := range m.Headers {
			if mt.match(m.Headers[i].Name) {
				at = i
				break
			}
		}
	}
	m.Headers = slices.Insert(m.Headers, at, h)
}

// Append adds a header line after the last header.
func (m *Msg) Append(name, value string) {
	m.Headers = append(m.Headers, Header{Name: name, Value: value})
}

// Set replaces all headers of that name by one line, at the position of the first, or
// appends it.
func (m *Msg) Set(name, value string) {
	mt := matcherFor(name)
	first := -1
	for i := range m.Headers {
		if mt.match(m.Headers[i].Name) {
			first = i
			break
		}
	}
	if first < 0 {
		m.Append(name, value)
		return
	}
	m.Headers[first] = Header{Name: name, Value: value}
	tail := m.Headers[first+1:]
	n := len(tail)
	tail = slices.DeleteFunc(tail, func(h Header) bool { return mt.match(h.Name) })
	m.Headers = m.Headers[:len(m.Headers)-(n-len(tail))]
}

// Del removes every header of that name and returns how many lines it removed.
func (m *Msg) Del(name string) int {
	mt := matcherFor(name)
	n := len(m.Headers)
	m.Headers = slices.DeleteFunc(m.Headers, func(h Header) bool { return mt.match(h.Name) })
	return n - len(m.Headers)
}

// CallID returns the Call-ID, "" if absent.
func (m *Msg) CallID() string {
	v, _ := m.Get("Call-ID")
	return v
}

// CSeq parses CSeq = 1*DIGIT LWS Method; the number must be below 2**31 (RFC 3261 §8.1.1.5).
func (m *Msg) CSeq() (num uint32, method string, err error) {
	v, ok := m.Get("CSeq")
	if !ok {
		return 0, "", fmt.Errorf("%w: CSeq", ErrMissing)
	}
	i := 0
	for i < len(v) && !isWS(v[i]) {
		i++
	}
	n, ok := atoi(v[:i], 10)
	method = trim(v[i:])
	if !ok || n > 1<<31-1 || i == len(v) || !isTokenString(method) {
		return 0, "", fmt.Errorf("%w: CSeq %q", ErrHeader, clip(v))
	}
	return uint32(n), method, nil
}

// MaxForwards returns the Max-Forwards value (0-255), whether the header is present, and
// an error if it is present but malformed.
func (m *Msg) MaxForwards() (int, bool, error) {
	v, ok := m.Get("Max-Forwards")
	if !ok {
		return 0, false, nil
	}
	n, ok := atoi(v, 3)
	if !ok || n > 255 {
		return 0, true, fmt.Errorf("%w: Max-Forwards %q", ErrHeader, clip(v))
	}
	return n, true, nil
}
