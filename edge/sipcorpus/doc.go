// Package sipcorpus holds SIP messages shared by tests, fuzz seeds and benchmarks: the
// RFC 4475 torture messages and an RFC 5118 IPv6 torture message, plus typical sample
// messages of a WebRTC client (a JsSIP REGISTER and an INVITE with SDP).
package sipcorpus

// Msg is a message with its RFC 4475 short name (the archive's file name without .dat).
type Msg struct {
	Name string
	Text string
}

// Torture returns the RFC 4475 message called name, from Valid or Invalid. It panics if
// there is none.
func Torture(name string) string {
	for _, m := range Valid {
		if m.Name == name {
			return m.Text
		}
	}
	if t, ok := Invalid[name]; ok {
		return t
	}
	panic("sipcorpus: no RFC 4475 message " + name)
}

// Pick returns the RFC 4475 messages called names, in that order. It panics if one is
// missing.
func Pick(names ...string) []Msg {
	ms := make([]Msg, len(names))
	for i, n := range names {
		ms[i] = Msg{n, Torture(n)}
	}
	return ms
}
