package registrar

import (
	"crypto/rand"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipws/sipws/edge/sip"
	"github.com/sipws/sipws/edge/sipmsg"
)

// BranchPrefix marks the Via branches of requests the proxy forks:
// z9hG4bK.swr.<replica>.<fork>.<leg>. The replica names the router that keeps the fork's
// state, so a response another router receives is passed on to it.
const BranchPrefix = "z9hG4bK.swr."

// RouteParam marks the Record-Route entries the proxy adds to dialogs between two clients.
// Their user part is the flow token of the side a request using that entry goes to.
const RouteParam = "swr"

// Transport delivers messages to clients.
type Transport interface {
	// Send delivers a SIP message to the client of a flow.
	Send(token string, msg []byte) error
}

// Timers of fork transactions (vars so tests can shorten them).
var (
	// NonInviteTimeout ends a non-INVITE fork without a final answer (Timer F, 64×T1).
	NonInviteTimeout = 32 * time.Second
	// InviteTimeout ends a ringing INVITE fork (Timer C, > 3 min).
	InviteTimeout = 3*time.Minute + 10*time.Second
	// linger keeps a finished fork to absorb late responses and the caller's ACK.
	linger = 32 * time.Second
)

// Proxy forks requests to the contacts of an AOR (RFC 3261 §16): parallel forking, every 2xx
// forwarded and the first one cancels the other branches, otherwise the best final response.
type Proxy struct {
	replica string
	adv     string
	tp      Transport
	log     *slog.Logger

	seq      atomic.Uint64
	mu       sync.Mutex
	forks    map[uint64]*fork
	byClient map[string]*fork // caller token | caller's branch: CANCEL and ACK find their INVITE
	closed   bool
}

type fork struct {
	p        *Proxy
	id       uint64
	key      string
	method   string
	caller   string // flow token of the caller
	req      []byte // the request as received (for our own responses)
	from, to string
	callID   string
	cseq     uint32

	mu       sync.Mutex
	legs     []*leg
	done     bool // a final response went to the caller
	best     *sipmsg.Msg
	bestCode int
	cancel   bool
	timer    *time.Timer
}

type leg struct {
	branch    string
	flow      string
	ruri      string
	via       string
	prov      bool // a provisional response came: CANCEL may be sent
	final     int
	cancelled bool // CANCEL sent
	wantCxl   bool // CANCEL as soon as a provisional arrives
}

// NewProxy makes a proxy; adv is the host:port of the router in Via and Record-Route.
func NewProxy(adv string, tp Transport, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := strconv.FormatUint(uint64(b[0])<<40|uint64(b[1])<<32|uint64(b[2])<<24|uint64(b[3])<<16|uint64(b[4])<<8|uint64(b[5]), 36)
	return &Proxy{replica: id, adv: adv, tp: tp, log: log, forks: map[uint64]*fork{}, byClient: map[string]*fork{}}
}

// Replica is the id of this proxy in its branches.
func (p *Proxy) Replica() string { return p.replica }

// ParseBranch splits one of the proxy's branches.
func ParseBranch(b string) (replica string, fork uint64, legIdx int, ok bool) {
	rest, ok := strings.CutPrefix(b, BranchPrefix)
	if !ok {
		return "", 0, 0, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", 0, 0, false
	}
	f, err1 := strconv.ParseUint(parts[1], 36, 64)
	l, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return parts[0], f, l, true
}

// Forward forks m (a request from the caller's flow, Via and Max-Forwards already processed,
// its top Via the caller's) to contacts. clientBranch is the caller's top Via branch.
func (p *Proxy) Forward(caller, clientBranch string, m *sipmsg.Msg, contacts []Contact) {
	from, _ := m.Get("From")
	to, _ := m.Get("To")
	n, _, _ := m.CSeq()
	f := &fork{
		p: p, id: p.seq.Add(1), key: caller + "|" + clientBranch, method: m.Method, caller: caller,
		req: m.Bytes(), from: from, to: to, callID: m.CallID(), cseq: n,
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if old := p.byClient[f.key]; old != nil && old.method == m.Method {
		p.mu.Unlock()
		return // a retransmission
	}
	p.forks[f.id] = f
	if m.Method == "INVITE" {
		p.byClient[f.key] = f
	}
	p.mu.Unlock()

	dialog := (m.Method == "INVITE" || m.Method == "SUBSCRIBE" || m.Method == "REFER") && !hasToTag(to)
	f.mu.Lock()
	defer f.mu.Unlock()
	timeout := NonInviteTimeout
	if m.Method == "INVITE" {
		timeout = InviteTimeout
	}
	f.timer = time.AfterFunc(timeout, f.expire)
	base := m.Bytes()
	for i, c := range contacts {
		lm, err := sipmsg.Parse(base)
		if err != nil {
			continue
		}
		l := &leg{branch: BranchPrefix + p.replica + "." + strconv.FormatUint(f.id, 36) + "." + strconv.Itoa(i), flow: c.Flow, ruri: c.URI}
		lm.RequestURI = c.URI
		if dialog {
			// Two entries: a request from the caller uses the lower one first (the callee's
			// flow), a request from the callee the upper one (the caller's flow).
			lm.Prepend("Record-Route", p.routeURI(c.Flow))
			lm.Prepend("Record-Route", p.routeURI(caller))
		}
		l.via = "SIP/2.0/WS " + p.adv + ";branch=" + l.branch
		lm.Prepend("Via", l.via)
		f.legs = append(f.legs, l)
		if err := p.tp.Send(c.Flow, lm.Bytes()); err != nil {
			l.final = 480
		}
	}
	f.maybeFinish()
}

func (p *Proxy) routeURI(token string) string {
	return "<sip:" + token + "@" + p.adv + ";transport=ws;lr;" + RouteParam + ">"
}

func hasToTag(to string) bool {
	na, err := sipmsg.ParseNameAddr(to)
	return err == nil && na.Tag() != ""
}

// Response handles a client's response to one of the proxy's legs (its top Via is ours).
// It returns false when the fork is not (or no longer) known here.
func (p *Proxy) Response(m *sipmsg.Msg) bool {
	top, _ := m.TopValue("Via")
	v, err := sipmsg.ParseVia(top)
	if err != nil {
		return false
	}
	_, id, idx, ok := ParseBranch(v.Branch())
	if !ok {
		return false
	}
	p.mu.Lock()
	f := p.forks[id]
	p.mu.Unlock()
	if f == nil {
		return false
	}
	_, method, _ := m.CSeq()
	f.mu.Lock()
	defer f.mu.Unlock()
	if idx < 0 || idx >= len(f.legs) || method == "CANCEL" || method != f.method {
		return true // our CANCEL's answer, or nonsense: absorbed
	}
	l := f.legs[idx]
	code := m.StatusCode
	switch {
	case code == 100:
		l.prov = true
	case code < 200:
		l.prov = true
		if l.wantCxl && !l.cancelled {
			f.sendCancel(l)
		}
		if !f.done && !f.cancel {
			f.toCaller(m)
		}
	case code < 300:
		l.final = code
		if f.method == "INVITE" {
			// Every 2xx of an INVITE goes to the caller, retransmissions included (RFC 3261
			// §16.7 step 5): the caller ACKs (or BYEs) each one itself.
			f.toCaller(m)
			if !f.done {
				f.done = true
				f.cancelOthers(l)
			}
		} else if !f.done {
			f.done = true
			f.toCaller(m)
		}
	default:
		if l.final != 0 {
			return true
		}
		l.final = code
		if f.method == "INVITE" {
			f.ackLeg(l, m)
		}
		if better(code, f.bestCode) {
			f.best, f.bestCode = m, code
		}
	}
	f.maybeFinish()
	return true
}

// better orders final responses for the caller (RFC 3261 §16.7 step 6): a 6xx wins, then the
// lowest class; 503 ranks as 500 and synthetic answers lose to real ones of the same class.
func better(code, best int) bool {
	if best == 0 {
		return true
	}
	if code >= 600 || best >= 600 {
		return best < 600 && code >= 600
	}
	return code/100 < best/100
}

// toCaller forwards a leg's response to the caller without our Via. f.mu is held.
func (f *fork) toCaller(m *sipmsg.Msg) {
	m.PopValue("Via")
	if m.StatusCode == 503 {
		// RFC 3261 §16.7 step 6: a proxy does not pass on 503.
		m.StatusCode, m.Reason = 500, "Server Internal Error"
	}
	_ = f.p.tp.Send(f.caller, m.Bytes())
}

// respond sends the caller a response of our own. f.mu is held.
func (f *fork) respond(code int, reason string) {
	if b, err := sip.Response(f.req, code, reason); err == nil {
		_ = f.p.tp.Send(f.caller, b)
	}
}

// maybeFinish answers the caller once every leg is final, and schedules the fork's removal.
// f.mu is held.
func (f *fork) maybeFinish() {
	for _, l := range f.legs {
		if l.final == 0 {
			return
		}
	}
	if !f.done {
		f.done = true
		switch {
		case f.best != nil:
			f.toCaller(f.best)
		case f.cancel:
			f.respond(487, "Request Terminated")
		default:
			f.respond(480, "Temporarily Unavailable")
		}
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	f.timer = time.AfterFunc(linger, f.forget)
}

func (f *fork) forget() {
	p := f.p
	p.mu.Lock()
	if p.forks[f.id] == f {
		delete(p.forks, f.id)
	}
	if p.byClient[f.key] == f {
		delete(p.byClient, f.key)
	}
	p.mu.Unlock()
}

// expire is Timer C/F: legs without a final answer count as 408 (INVITE legs are cancelled).
func (f *fork) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.legs {
		if l.final == 0 {
			if f.method == "INVITE" && l.prov && !l.cancelled {
				f.sendCancel(l)
			}
			l.final = 408
			if better(408, f.bestCode) && f.best == nil {
				f.bestCode = 408
			}
		}
	}
	if !f.done && f.best == nil && !f.cancel {
		f.done = true
		f.respond(408, "Request Timeout")
	}
	f.maybeFinish()
}

// cancelOthers cancels the pending legs after a 2xx on won. f.mu is held.
func (f *fork) cancelOthers(won *leg) {
	for _, l := range f.legs {
		if l != won && l.final == 0 {
			f.cancelLeg(l)
		}
	}
}

func (f *fork) cancelLeg(l *leg) {
	if l.cancelled {
		return
	}
	if l.prov {
		f.sendCancel(l)
	} else {
		l.wantCxl = true // RFC 3261 §9.1: no CANCEL before a provisional response
	}
}

func (f *fork) sendCancel(l *leg) {
	l.cancelled = true
	_ = f.p.tp.Send(l.flow, f.hopRequest("CANCEL", l, f.to))
}

// ackLeg acknowledges a non-2xx final response of an INVITE leg (hop by hop, §17.1.1.3).
func (f *fork) ackLeg(l *leg, resp *sipmsg.Msg) {
	to, _ := resp.Get("To")
	_ = f.p.tp.Send(l.flow, f.hopRequest("ACK", l, to))
}

func (f *fork) hopRequest(method string, l *leg, to string) []byte {
	var b strings.Builder
	b.WriteString(method + " " + l.ruri + " SIP/2.0\r\nVia: " + l.via + "\r\nMax-Forwards: 70\r\nFrom: " + f.from +
		"\r\nTo: " + to + "\r\nCall-ID: " + f.callID + "\r\nCSeq: " + strconv.FormatUint(uint64(f.cseq), 10) + " " + method +
		"\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// Cancel handles the caller's CANCEL of a forked INVITE; false when the INVITE is not known
// here (it may be on another router).
func (p *Proxy) Cancel(caller, clientBranch string) bool {
	p.mu.Lock()
	f := p.byClient[caller+"|"+clientBranch]
	p.mu.Unlock()
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done {
		f.cancel = true
		for _, l := range f.legs {
			if l.final == 0 {
				f.cancelLeg(l)
			}
		}
	}
	return true
}

// Known reports whether an INVITE fork of the caller with this branch lives here (for the
// caller's ACK of a non-2xx answer, which the proxy absorbs).
func (p *Proxy) Known(caller, clientBranch string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byClient[caller+"|"+clientBranch] != nil
}

// FlowGone ends the legs towards a flow that closed or failed.
func (p *Proxy) FlowGone(token string) {
	p.mu.Lock()
	var fs []*fork
	for _, f := range p.forks {
		fs = append(fs, f)
	}
	p.mu.Unlock()
	for _, f := range fs {
		f.mu.Lock()
		hit := false
		for _, l := range f.legs {
			if l.flow == token && l.final == 0 {
				l.final, hit = 480, true
				if better(480, f.bestCode) && f.best == nil {
					f.bestCode = 480
				}
			}
		}
		if hit {
			f.maybeFinish()
		}
		f.mu.Unlock()
	}
}

// Close stops every timer.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	fs := p.forks
	p.forks, p.byClient = map[uint64]*fork{}, map[string]*fork{}
	p.mu.Unlock()
	for _, f := range fs {
		f.mu.Lock()
		if f.timer != nil {
			f.timer.Stop()
		}
		f.mu.Unlock()
	}
}
