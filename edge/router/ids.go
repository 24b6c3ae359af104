package router

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/sipmsg"
)

// branchPrefix marks the branches of Vias this router adds: the magic cookie, then our own
// marker, then the flow token, then a hash. The token lets a response find its flow with no
// state; the hash makes the branch a deterministic function of the request's own top branch,
// so retransmissions, CANCEL and non-2xx ACK leave with the branch the INVITE had
// (RFC 3261 §16.11).
const branchPrefix = "z9hG4bK.sws."

// makeBranch derives our branch for a request from its token and the branch (and, lacking a
// cookie, the transaction key parts) of the hop before us.
func makeBranch(token string, prev sipmsg.Via, m *sipmsg.Msg) string {
	h := fnv.New64a()
	b := prev.Branch()
	if strings.HasPrefix(b, "z9hG4bK") {
		h.Write([]byte(b))
		h.Write([]byte{0})
		h.Write([]byte(prev.HostPort()))
	} else {
		// RFC 2543 peers: key on the request itself.
		h.Write([]byte(m.RequestURI))
		h.Write([]byte(m.CallID()))
		n, _, _ := m.CSeq()
		h.Write(binary.BigEndian.AppendUint32(nil, n))
		if f, ok := m.Get("From"); ok {
			h.Write([]byte(f))
		}
	}
	return branchPrefix + token + "." + strconv.FormatUint(h.Sum64(), 36)
}

// tokenFromBranch returns the flow token inside one of our branches.
func tokenFromBranch(branch string) (string, bool) {
	rest, ok := strings.CutPrefix(branch, branchPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// flowURI is the URI of this router carrying a flow token, for Path and Record-Route:
// sip:<token>@<advertise>;lr;ob (RFC 5626 §5.1).
func (r *Router) flowURI(token, transport string) string {
	var b strings.Builder
	b.WriteString("<sip:")
	b.WriteString(token)
	b.WriteByte('@')
	b.WriteString(r.adv)
	if transport != "" {
		b.WriteString(";transport=")
		b.WriteString(transport)
	}
	b.WriteString(";lr;ob>")
	return b.String()
}

// ourURI reports whether u addresses this router (its advertised host:port).
func (r *Router) ourURI(u sipmsg.URI) bool {
	if !strings.EqualFold(u.Host, r.advHost) {
		return false
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if u.Scheme == "sips" {
			port = 5061
		}
	}
	return port == r.advPort
}

// tokenCheck is the result of looking at a URI's user part as a flow token.
type tokenCheck int

const (
	notToken tokenCheck = iota
	validToken
	badToken // looks like ours but the MAC fails: tampered
)

func (r *Router) checkToken(user string) (flow.Flow, tokenCheck) {
	if user == "" {
		return flow.Flow{}, notToken
	}
	f, err := r.keys.Decode(user)
	if err != nil {
		// A user part at our address that is not a token we signed: forged or tampered.
		return flow.Flow{}, badToken
	}
	return f, validToken
}
