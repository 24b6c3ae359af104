package router

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sipmsg"
)

var update = flag.Bool("update", false, "rewrite the golden .out.sip files of TestGolden")

// A golden step sends testdata/golden/<name>.in.sip from one side and compares what comes
// out on the other with <name>.out.sip.
//
// Inputs are written with LF line ends (sent as CRLF) and may use placeholders: TOKEN (the
// flow token), UPORT (the upstream's port), UPBRANCH (the top Via branch of the last message
// the upstream received) and CLBRANCH (the top Via branch of the last request the client
// received). Outputs are normalised back: the token to TOKEN, the upstream port to UPORT,
// the hash of our branches to HASH, CRLF to LF.
type goldenStep struct {
	name string
	from string // "client" (published on sipws.gw.in.<token>) or "upstream" (UDP to the router)
	to   string // "upstream" (captured on the upstream socket) or "client" (sipws.gw.out.n1.<token>)
}

type goldenCase struct {
	name   string
	adjust func(*config.Config, []*udpPeer)
	steps  []goldenStep
}

var goldenCases = []goldenCase{
	{name: "register with Supported path: Path, received/rport, Max-Forwards, our Via",
		steps: []goldenStep{{"register_path", "client", "upstream"}}},
	{name: "register without Supported path: Contact alias",
		steps: []goldenStep{{"register_no_path", "client", "upstream"}}},
	{name: "invite: double Record-Route, upstream-facing on top",
		steps: []goldenStep{{"invite", "client", "upstream"}}},
	{name: "in-dialog bye from the client: our Routes popped",
		steps: []goldenStep{{"bye_in_dialog", "client", "upstream"}}},
	{name: "response from upstream: our Via popped, to the flow",
		steps: []goldenStep{{"invite", "client", "upstream"}, {"invite_200", "upstream", "client"}}},
	{name: "request from upstream along the Path",
		steps: []goldenStep{{"upstream_invite", "upstream", "client"}}},
	{name: "client response to an upstream request: to received/rport",
		steps: []goldenStep{{"upstream_invite", "upstream", "client"}, {"upstream_invite_200", "client", "upstream"}}},
	{name: "contact alias: register rewritten, invite to the alias restored",
		adjust: func(c *config.Config, _ []*udpPeer) { c.Router.Routes[0].FlowRouting = config.FlowRoutingContactAlias },
		steps:  []goldenStep{{"alias_register", "client", "upstream"}, {"alias_invite", "upstream", "client"}}},
	{name: "options to the gateway answered by the router",
		steps: []goldenStep{{"options_gateway", "client", "client"}}},
	{name: "max-forwards zero: 483",
		steps: []goldenStep{{"max_forwards_zero", "client", "client"}}},
	{name: "missing via: 400",
		steps: []goldenStep{{"missing_via", "client", "client"}}},
	{name: "no matching route: 404",
		adjust: func(c *config.Config, _ []*udpPeer) { c.Router.Routes[0].Match.Domains = []string{"example.com"} },
		steps:  []goldenStep{{"no_route", "client", "client"}}},
	{name: "in-dialog route to a host that is not an upstream: 403",
		steps: []goldenStep{{"route_not_allowed", "client", "client"}}},
	{name: "options from upstream without a token answered by the router",
		steps: []goldenStep{{"upstream_options", "upstream", "upstream"}}},
	{name: "upstream request without a flow: 404",
		steps: []goldenStep{{"upstream_no_flow", "upstream", "upstream"}}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{adjust: tc.adjust})
			up := h.up[0]
			up.drop = true // UDP retransmissions of a request are not new steps
			token := h.token(1)
			vars := map[string]string{}
			for _, st := range tc.steps {
				in := goldenInput(t, st.name, token, up.port(), vars)
				switch st.from {
				case "client":
					h.fromClient(token, in)
				case "upstream":
					up.send(t, up.router, in)
				default:
					t.Fatalf("step %s: bad side %q", st.name, st.from)
				}
				var got []byte
				switch st.to {
				case "upstream":
					got = up.next(t, st.name, anyPkt).data
					vars["UPBRANCH"] = topBranch(t, got)
				case "client":
					got = h.toClient(token, st.name).Data
					if m, err := sipmsg.Parse(got); err == nil && m.Request {
						vars["CLBRANCH"] = topBranch(t, got)
					}
				default:
					t.Fatalf("step %s: bad side %q", st.name, st.to)
				}
				checkGolden(t, st.name, normalize(got, token, up.port()))
			}
		})
	}
}

func goldenInput(t *testing.T, name, token string, uport int, vars map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".in.sip"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	for k, v := range vars {
		s = strings.ReplaceAll(s, k, v)
	}
	s = strings.ReplaceAll(s, "TOKEN", token)
	s = strings.ReplaceAll(s, "UPORT", strconv.Itoa(uport))
	return crlf(s)
}

var ourBranchHash = regexp.MustCompile(`z9hG4bK\.sws\.TOKEN\.[0-9a-z]+`)

func normalize(b []byte, token string, uport int) string {
	s := strings.ReplaceAll(string(b), token, "TOKEN")
	s = ourBranchHash.ReplaceAllString(s, "z9hG4bK.sws.TOKEN.HASH")
	s = regexp.MustCompile(`([:=])`+strconv.Itoa(uport)+`\b`).ReplaceAllString(s, "${1}UPORT")
	return strings.ReplaceAll(s, "\r\n", "\n")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".out.sip")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from %s\n--- got ---\n%s\n--- want ---\n%s\n--- first difference ---\n%s",
			name, path, got, want, firstDiff(got, string(want)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + strconv.Quote(x) + "\nwant: " + strconv.Quote(y)
		}
	}
	return "(none)"
}
