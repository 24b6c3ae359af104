package registrar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sipws/sipws/edge/sipmsg"
)

// Config bounds registrations.
type Config struct {
	// MinExpires: shorter non-zero registrations are refused with 423 (default 60 s).
	MinExpires int
	// MaxExpires: longer registrations are shortened to it (default 3600 s).
	MaxExpires int
	// DefaultExpires applies when the REGISTER names no expiry (default 3600 s).
	DefaultExpires int
	// Auth, when set, challenges requests with digest authentication.
	Auth *Auth
}

func (c *Config) defaults() {
	if c.MinExpires <= 0 {
		c.MinExpires = 60
	}
	if c.MaxExpires <= 0 {
		c.MaxExpires = 3600
	}
	if c.DefaultExpires <= 0 {
		c.DefaultExpires = min(3600, c.MaxExpires)
	}
}

// Registrar answers REGISTER requests (RFC 3261 §10.3) and looks bindings up.
type Registrar struct {
	st  *Store
	cfg Config
}

// New makes a registrar on a store.
func New(st *Store, cfg Config) *Registrar {
	cfg.defaults()
	return &Registrar{st: st, cfg: cfg}
}

// Store is the registrar's binding store.
func (g *Registrar) Store() *Store { return g.st }

// Auth is the registrar's digest authentication, nil when off.
func (g *Registrar) Auth() *Auth { return g.cfg.Auth }

// Reply is a response the caller builds from the request: status, reason and extra header
// lines ("Name: value").
type Reply struct {
	Code    int
	Reason  string
	Headers []string
}

func reply(code int, reason string, h ...string) Reply {
	return Reply{Code: code, Reason: reason, Headers: h}
}

// AOR returns the canonical address-of-record of a SIP URI: sip:user@host, host in lower
// case, no port or parameters (sips is folded into sip).
func AOR(u sipmsg.URI) (string, error) {
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return "", fmt.Errorf("%q is not a sip URI", u.String())
	}
	if u.User == "" {
		return "", errors.New("no user part")
	}
	user, err := url.PathUnescape(u.User)
	if err != nil {
		user = u.User
	}
	return "sip:" + user + "@" + strings.ToLower(u.Host), nil
}

// Register processes a REGISTER that arrived over flow token and returns the response. path
// is the Path entry of this hop (the flow's URI), stored with each contact and returned in
// the 200 when the UA supports path.
func (g *Registrar) Register(ctx context.Context, m *sipmsg.Msg, token string) Reply {
	toV, _ := m.Get("To")
	to, err := sipmsg.ParseNameAddr(toV)
	if err != nil {
		return reply(400, "Bad To")
	}
	aor, err := AOR(to.URI)
	if err != nil {
		return reply(404, "Not Found")
	}
	if a := g.cfg.Auth; a != nil {
		user, _ := url.PathUnescape(to.URI.User)
		if ok, r := a.Check(m, user, false); !ok {
			return r
		}
	}
	callID := m.CallID()
	cseq, _, err := m.CSeq()
	if err != nil {
		return reply(400, "Bad CSeq")
	}
	hdrExpires := -1
	if v, ok := m.Get("Expires"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return reply(400, "Bad Expires")
		}
		hdrExpires = n
	}
	path := m.Values("Path")

	type change struct {
		c       Contact
		expires int
	}
	var changes []change
	star := false
	for _, v := range m.Values("Contact") {
		na, err := sipmsg.ParseNameAddr(v)
		if err != nil {
			return reply(400, "Bad Contact")
		}
		if na.Star {
			star = true
			continue
		}
		exp := hdrExpires
		if e, ok := na.Params.Get("expires"); ok {
			n, err := strconv.Atoi(e)
			if err != nil || n < 0 {
				return reply(400, "Bad Contact expires")
			}
			exp = n
		}
		if exp < 0 {
			exp = g.cfg.DefaultExpires
		}
		if exp > 0 && exp < g.cfg.MinExpires {
			return reply(423, "Interval Too Brief", "Min-Expires: "+strconv.Itoa(g.cfg.MinExpires))
		}
		exp = min(exp, g.cfg.MaxExpires)
		c := Contact{URI: na.URI.String(), Flow: token, CallID: callID, CSeq: cseq, Path: path}
		params := slices.Clone(na.Params)
		params.Del("expires")
		c.Params = params.String()
		if inst, ok := na.Params.Get("+sip.instance"); ok {
			c.Instance = inst
			if rid, ok := na.Params.Get("reg-id"); ok {
				c.RegID, _ = strconv.Atoi(rid)
			}
		}
		changes = append(changes, change{c, exp})
	}
	if star && (len(changes) > 0 || hdrExpires != 0 || m.Count("Contact") != 1) {
		// RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0.
		return reply(400, "Invalid Wildcard Contact")
	}

	now := g.st.now()
	var rec Record
	var outOfOrder bool
	if star || len(changes) > 0 {
		rec, err = g.st.Update(ctx, aor, func(r *Record) error {
			outOfOrder = false
			if star {
				for _, b := range r.Contacts {
					if b.CallID == callID && b.CSeq >= cseq {
						outOfOrder = true
						return errOutOfOrder
					}
				}
				r.Contacts = nil
				return nil
			}
			for _, ch := range changes {
				i := slices.IndexFunc(r.Contacts, func(b Contact) bool { return sameBinding(b, ch.c) })
				if i >= 0 {
					b := r.Contacts[i]
					if b.CallID == callID && b.CSeq >= cseq {
						outOfOrder = true
						return errOutOfOrder
					}
					r.Contacts = slices.Delete(r.Contacts, i, i+1)
				}
				if ch.expires > 0 {
					c := ch.c
					c.Expires = now.Unix() + int64(ch.expires)
					r.Contacts = append(r.Contacts, c)
				}
			}
			return nil
		})
		if outOfOrder {
			return reply(500, "Out of Order CSeq", "Retry-After: 1")
		}
		if err != nil {
			return reply(500, "Binding Store Unavailable", "Retry-After: 5")
		}
	} else {
		rec, _, err = g.st.Get(ctx, aor)
		if err != nil {
			return reply(500, "Binding Store Unavailable", "Retry-After: 5")
		}
	}

	var h []string
	for _, c := range rec.Contacts {
		v := "<" + c.URI + ">" + c.Params + ";expires=" + strconv.FormatInt(max(0, c.Expires-now.Unix()), 10)
		h = append(h, "Contact: "+v)
	}
	if len(path) > 0 && supports(m, "path") {
		h = append(h, "Path: "+strings.Join(path, ", "))
	}
	for _, ch := range changes {
		if ch.c.Instance != "" && ch.c.RegID != 0 && supports(m, "outbound") {
			h = append(h, "Require: outbound") // RFC 5626 §6: the registrar supports outbound
			break
		}
	}
	h = append(h, "Date: "+now.UTC().Format(time.RFC1123))
	return reply(200, "OK", h...)
}

var errOutOfOrder = errors.New("out of order CSeq")

// sameBinding: RFC 5626 registrations are keyed by instance and reg-id (a new flow replaces
// the old one), others by Contact URI.
func sameBinding(a, b Contact) bool {
	if a.Instance != "" && b.Instance != "" && a.RegID != 0 && b.RegID != 0 {
		return a.Instance == b.Instance && a.RegID == b.RegID
	}
	return sameURI(a.URI, b.URI)
}

func sameURI(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ua, err1 := sipmsg.ParseURI(a)
	ub, err2 := sipmsg.ParseURI(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ua.Scheme == ub.Scheme && ua.User == ub.User && strings.EqualFold(ua.Host, ub.Host) && ua.Port == ub.Port
}

func supports(m *sipmsg.Msg, option string) bool {
	for _, v := range m.Values("Supported") {
		if strings.EqualFold(strings.TrimSpace(v), option) {
			return true
		}
	}
	return false
}

// Lookup returns the AOR's live contacts and whether the AOR is known at all (404 vs 480).
func (g *Registrar) Lookup(ctx context.Context, aor string) ([]Contact, bool, error) {
	rec, found, err := g.st.Get(ctx, aor)
	if err != nil {
		return nil, false, err
	}
	if g.cfg.Auth != nil {
		user := strings.TrimPrefix(aor, "sip:")
		if i := strings.LastIndexByte(user, '@'); i >= 0 {
			user = user[:i]
		}
		found = g.cfg.Auth.Known(user)
	}
	return rec.Contacts, found, nil
}
