package router

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sipcorpus"
	"github.com/sipws/sipws/edge/sipmsg"
)

// tortureExpect is what a client's RFC 4475 message may lead to.
type tortureExpect struct {
	relay bool  // relayed to the upstream with every header the router does not own intact
	codes []int // answers the router may give the client instead
	drop  bool  // neither relayed nor answered
	// alias: a REGISTER without Supported: path, whose Contact the router rewrites.
	alias bool
	check func(t *testing.T, got []byte) // extra check of a relayed message
	why   string
}

var (
	mustRelay    = tortureExpect{relay: true}
	badOrDropped = tortureExpect{codes: []int{400}, drop: true}
	// RFC 4475 lets an element be liberal with these and accept them, or answer 400.
	liberal = tortureExpect{relay: true, codes: []int{400}}
	// A response the client sends with no Via of ours: nothing to relay it to.
	clientResponse = tortureExpect{drop: true}
)

// tortureExpectations follow RFC 4475 (sections in why).
var tortureExpectations = map[string]tortureExpect{
	// §3.1.1 valid messages.
	"wsinv":      mustRelay, // its preloaded Route is pointed at our upstream, see below
	"intmeth":    mustRelay,
	"esc01":      mustRelay,
	"esc02":      mustRelay,
	"escnull":    {relay: true, alias: true},
	"lwsdisp":    mustRelay,
	"longreq":    mustRelay,
	"dblreq":     {relay: true, codes: []int{400}, drop: true, alias: true, why: "§3.1.1.8; two messages in one WebSocket message break RFC 7118 §5.1"},
	"semiuri":    mustRelay,
	"transports": mustRelay,
	"mpart01":    mustRelay, // its preloaded Route is pointed at our upstream, see below
	"unreason":   clientResponse,
	"noreason":   clientResponse,

	// §3.1.2 invalid messages.
	"badinv01":   {codes: []int{400}, drop: true, why: "§3.1.2.1: must be 400"},
	"clerr":      badOrDropped,
	"ncl":        badOrDropped,
	"scalar02":   {codes: []int{400}, drop: true, why: "§3.1.2.4: overlarge CSeq and Max-Forwards: 400"},
	"scalarlg":   clientResponse,
	"quotbal":    {relay: true, codes: []int{400}, why: "§3.1.2.6: should be 400; an element may infer the quote"},
	"ltgtruri":   {codes: []int{400}, drop: true, why: "§3.1.2.7: 400"},
	"lwsruri":    badOrDropped,
	"lwsstart":   badOrDropped,
	"trws":       badOrDropped,
	"escruri":    {relay: true, codes: []int{400}, drop: true, check: noURIHeaders, why: "§3.1.2.11: 400, or if relayed the escaped headers MUST NOT appear in the forwarded Request-URI"},
	"baddate":    liberal,
	"regbadct":   {relay: true, codes: []int{400}, alias: true, why: "§3.1.2.13: 400 or liberal"},
	"badaspec":   liberal,
	"baddn":      liberal,
	"badvers":    {codes: []int{400, 505}, drop: true, why: "§3.1.2.16: 505"},
	"mismatch01": {codes: []int{400}, drop: true, why: "§3.1.2.17: any element receiving this request will respond 400"},
	"mismatch02": {codes: []int{400}, drop: true, why: "§3.1.2.18: an element receiving this request will respond 400"},
	"bigcode":    clientResponse,

	// §3.2 transaction layer.
	"badbranch": {relay: true, codes: []int{400}, why: "§3.2.1: 400 or RFC 2543 transaction matching"},

	// §3.3 application layer semantics.
	"insuf":    {codes: []int{400}, drop: true, why: "§3.3.1: no Call-ID, From or To: ideally 400"},
	"unkscm":   {relay: true, codes: []int{416}, why: "§3.3.2: 416, or relayed by a proxy routing on its own rules"},
	"novelsc":  {relay: true, codes: []int{416}, why: "§3.3.3: as an unknown scheme"},
	"unksm2":   {relay: true, alias: true, why: "§3.3.4: well formed, accepted"},
	"bext01":   {codes: []int{420}, why: "§3.3.5 and RFC 3261 §16.3 step 5: Proxy-Require with unknown option-tags MUST be answered 420 by a proxy"},
	"invut":    mustRelay,
	"regaut01": {relay: true, alias: true},
	"multi01":  {codes: []int{400}, drop: true, why: "§3.3.8: multiple values in single-value fields: 400"},
	"mcl01":    badOrDropped,
	"bcast":    clientResponse,
	"zeromf":   {codes: []int{483, 200}, why: "§3.3.11: Max-Forwards 0: 483 (or answered by the proxy)"},
	"cparam01": {relay: true, alias: true},
	"cparam02": {relay: true, alias: true},
	"regescrt": {relay: true, alias: true},
	"sdp01":    mustRelay,

	// §3.4 backward compatibility.
	"inv2543": mustRelay,
}

func noURIHeaders(t *testing.T, got []byte) {
	t.Helper()
	start, _, _ := strings.Cut(string(got), "\r\n")
	if strings.Contains(start, "?") {
		t.Errorf("relayed with the escaped headers in the Request-URI (RFC 4475 §3.1.2.11 MUST NOT): %q", start)
	}
}

// routerOwned are the headers a proxy edits: everything else must pass byte for byte.
var routerOwned = []string{"Via", "Route", "Record-Route", "Path", "Max-Forwards", "Content-Length"}

// headerFields splits a message into its start line, header fields (with their continuation
// lines, as written) and body.
func headerFields(b []byte) (start string, fields []string, body string) {
	s := string(b)
	end := strings.Index(s, "\r\n\r\n")
	if end < 0 {
		return s, nil, ""
	}
	lines := strings.SplitAfter(s[:end+2], "\r\n")
	start = lines[0]
	for _, l := range lines[1:] {
		switch {
		case l == "":
		case (l[0] == ' ' || l[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1] += l
		default:
			fields = append(fields, l)
		}
	}
	return start, fields, s[end+4:]
}

func fieldName(f string) string {
	name, _, _ := strings.Cut(f, ":")
	return sipmsg.CanonicalName(strings.TrimRight(name, " \t"))
}

func notOwned(fields []string, alsoOwned ...string) []string {
	var out []string
	for _, f := range fields {
		n := fieldName(f)
		if !slices.Contains(routerOwned, n) && !slices.Contains(alsoOwned, n) {
			out = append(out, f)
		}
	}
	return out
}

func compareRelayed(t *testing.T, sent, got []byte, alias bool) {
	t.Helper()
	ss, sf, sb := headerFields(sent)
	gs, gf, gb := headerFields(got)
	if ss != gs {
		t.Errorf("start line changed: sent %q, relayed %q", ss, gs)
	}
	var extra []string
	if alias {
		extra = []string{"Contact"} // rewritten to the contact alias (no Path support)
	}
	if s, g := notOwned(sf, extra...), notOwned(gf, extra...); !slices.Equal(s, g) {
		t.Errorf("headers the router does not own changed:\nsent:    %q\nrelayed: %q", s, g)
	}
	if sb != gb {
		t.Errorf("body changed: sent %q, relayed %q", sb, gb)
	}
}

func TestTorture(t *testing.T) {
	noAdv := ""
	h := newHarness(t, harnessOpts{advertise: &noAdv, adjust: func(c *config.Config, _ []*udpPeer) {
		// No retransmission during the run: each relayed request arrives once.
		c.Router.Timers.T1, c.Router.Timers.T2 = config.D(5*time.Second), config.D(5*time.Second)
	}})
	up := h.up[0]
	token := h.token(51)
	upHost := up.addr().String()

	type tcase struct {
		name string
		msg  []byte
		exp  tortureExpect
	}
	var cases []tcase
	for _, tc := range sipcorpus.Valid {
		msg := tc.Text
		// Preloaded Routes name hosts we do not relay to (never an open relay): point them at
		// our upstream so the rest of the message can be checked.
		msg = strings.Replace(msg, "<sip:services.example.com;lr;", "<sip:"+upHost+";lr;", 1)
		msg = strings.Replace(msg, "Route: <sip:127.0.0.1:5080>", "Route: <sip:"+upHost+">", 1)
		cases = append(cases, tcase{tc.Name, []byte(msg), tortureExpectations[tc.Name]})
	}
	cases = append(cases, tcase{"wsinv with its Route to a foreign host", []byte(sipcorpus.Valid[0].Text), tortureExpect{codes: []int{403}}})
	names := make([]string, 0, len(sipcorpus.Invalid))
	for n := range sipcorpus.Invalid {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		exp, ok := tortureExpectations[n]
		if !ok {
			t.Fatalf("no expectation for %s", n)
		}
		cases = append(cases, tcase{n, []byte(sipcorpus.Invalid[n]), exp})
	}

	seen := map[string]bool{}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// RFC 4475 reuses branches (z9hG4bKkdjuw ...): forget the transactions of earlier
			// messages, or a message would be absorbed as a retransmission of another.
			h.r.ctx.stopAll()
			h.r.stx.stopAll()
			h.fromClient(token, tc.msg)
			// The flow's messages are handled in order: once the router has answered this
			// OPTIONS, it is done with the message before it.
			sentinel := fmt.Sprintf("sentinel-%d", i)
			h.fromClient(token, sipReq{
				Method: "OPTIONS", RURI: "sip:" + h.r.Advertise(), Via: []string{"SIP/2.0/WS c1.invalid;branch=z9hG4bK" + sentinel},
				From: "<sip:alice@example.com>;tag=s", To: "<sip:" + h.r.Advertise() + ">", CallID: sentinel, CSeq: 1,
			}.bytes())
			var codes []int
			for {
				m := h.toClient(token, "answers")
				pm, err := sipmsg.Parse(m.Data)
				if err != nil {
					t.Fatalf("router sent the client an unparsable message: %v\n%s", err, m.Data)
				}
				if pm.CallID() == sentinel {
					break
				}
				if pm.Request {
					t.Fatalf("router sent the client a request:\n%s", m.Data)
				}
				codes = append(codes, pm.StatusCode)
			}
			// Whatever the router relayed was sent before it answered the sentinel: a marker
			// the upstream sends itself now is queued behind it.
			marker := fmt.Sprintf("marker-%d", i)
			up.send(t, up.addr(), []byte(marker))
			var relayed [][]byte
			for {
				pk := up.next(t, marker, anyPkt)
				if string(pk.data) == marker {
					break
				}
				if !seen[string(pk.data)] {
					seen[string(pk.data)] = true
					relayed = append(relayed, pk.data)
				}
			}
			why := ""
			if tc.exp.why != "" {
				why = " (" + tc.exp.why + ")"
			}
			switch {
			case len(relayed) > 1:
				t.Errorf("relayed %d times", len(relayed))
			case len(relayed) == 1 && !tc.exp.relay:
				t.Errorf("relayed to the upstream, want %s%s:\n%s", wantText(tc.exp), why, relayed[0])
			case len(relayed) == 1:
				compareRelayed(t, tc.msg, relayed[0], tc.exp.alias)
				if tc.exp.check != nil {
					tc.exp.check(t, relayed[0])
				}
			}
			for _, c := range codes {
				if !slices.Contains(tc.exp.codes, c) {
					t.Errorf("client got %d, want %s%s", c, wantText(tc.exp), why)
				}
			}
			if len(relayed) > 0 && len(codes) > 0 {
				t.Errorf("both relayed and answered %v", codes)
			}
			if len(relayed) == 0 && len(codes) == 0 && !tc.exp.drop {
				t.Errorf("neither relayed nor answered, want %s%s", wantText(tc.exp), why)
			}
		})
	}
}

func wantText(e tortureExpect) string {
	var w []string
	if e.relay {
		w = append(w, "relayed")
	}
	for _, c := range e.codes {
		w = append(w, fmt.Sprint(c))
	}
	if e.drop {
		w = append(w, "dropped")
	}
	return strings.Join(w, " or ")
}
