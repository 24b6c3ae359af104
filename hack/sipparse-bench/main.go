// Command sipparse-bench compares edge/sipmsg with github.com/emiago/sipgo/sip on the RFC
// 4475 torture messages: does each parser accept the message, and does a relay (parse,
// serialise, nothing edited) hand on the same bytes? The speed comparison is
// `go test -bench . ./hack/sipparse-bench/`; docs/sip-parser.md has the results.
package main

import (
	"bytes"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/emiago/sipgo/sip"

	"github.com/sipws/sipws/edge/sipmsg"
)

// result of one parser on one message.
type result struct {
	ok     bool // parsed without error
	intact bool // re-serialised byte for byte
}

func (r result) String() string {
	switch {
	case r.intact:
		return "intact"
	case r.ok:
		return "parsed, rewritten"
	}
	return "refused"
}

func viaSipmsg(msg string) result {
	m, err := sipmsg.Parse([]byte(msg))
	if err != nil {
		return result{}
	}
	return result{ok: true, intact: bytes.Equal(m.Bytes(), []byte(msg))}
}

func viaSipgo(msg string) result {
	m, err := sip.NewParser().ParseSIP([]byte(msg))
	if err != nil {
		return result{}
	}
	return result{ok: true, intact: m.String() == msg}
}

func main() {
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "RFC 4475 message\texpected\tedge/sipmsg\tsipgo/sip")
	for _, tc := range tortureRelay {
		fmt.Fprintf(w, "%s\trelay intact\t%v\t%v\n", tc.Name, viaSipmsg(tc.Text), viaSipgo(tc.Text))
	}
	for _, tc := range tortureReject {
		fmt.Fprintf(w, "%s\trefuse\t%v\t%v\n", tc.Name, viaSipmsg(tc.Text), viaSipgo(tc.Text))
	}
	w.Flush()
}
