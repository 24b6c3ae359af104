package router

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sipws/sipws/edge/config"
)

func clientMESSAGE(callID string) []byte {
	return sipReq{
		Method: "MESSAGE", RURI: "sip:bob@example.com", Via: []string{"SIP/2.0/WS c1.invalid;branch=z9hG4bK" + callID},
		From: "<sip:alice@example.com>;tag=" + callID, To: "<sip:bob@example.com>", CallID: callID, CSeq: 1,
		Extra: []string{"Content-Type: text/plain"}, Body: "hi",
	}.bytes()
}

func TestHealthProbes(t *testing.T) {
	h := newHarness(t, harnessOpts{upstreams: 2, adjust: func(c *config.Config, ups []*udpPeer) {
		// Round robin: the recovered target must get some of the next few requests.
		c.Router.Routes[0].Upstream.Balance = config.BalanceRoundRobin
		c.Router.Routes[0].Upstream.HealthCheck = config.HealthCheck{
			Interval: config.D(200 * time.Millisecond), Timeout: config.D(100 * time.Millisecond), DownAfter: 2, UpAfter: 1,
		}
		ups[0].probes.Store(probesIgnore) // never answers OPTIONS
		ups[1].probes.Store(probesAnswer)
	}})
	down, healthy := h.up[0], h.up[1]
	for _, p := range h.up {
		p.drop = true
	}
	token := h.token(31)
	upMetric := func(p *udpPeer) (float64, bool) {
		return metricValue(t, h.reg, "sipws_router_upstream_up", map[string]string{"target": p.uri()})
	}

	waitFor(t, func() bool { v, ok := upMetric(down); return ok && v == 0 }, "sipws_router_upstream_up{target=%q} = 0", down.uri())
	if v, ok := upMetric(healthy); ok && v != 1 {
		t.Errorf("the answering target is reported down")
	}
	if v, _ := metricValue(t, h.reg, "sipws_router_probes_total", nil); v < 2 {
		t.Errorf("sipws_router_probes_total = %v", v)
	}

	// Requests go to the healthy target only.
	for i := range 6 {
		callID := fmt.Sprintf("hc-down-%d", i)
		h.fromClient(token, clientMESSAGE(callID))
		idx, pk := waitEither(t, h.up, "MESSAGE", and(isRequest("MESSAGE"), hasCallID(callID)))
		if idx != 1 {
			t.Errorf("request %d went to the target that is down", i)
		}
		h.up[idx].reply(t, pk, respond(pk.msg(t), 200, "OK"))
		if code := statusOf(t, h.toClient(token, "200").Data); code != 200 {
			t.Errorf("client got %d", code)
		}
	}

	// It answers again: up after one success, and it gets traffic again.
	down.probes.Store(probesAnswer)
	waitFor(t, func() bool { v, ok := upMetric(down); return ok && v == 1 }, "sipws_router_upstream_up{target=%q} = 1", down.uri())
	back := false
	for i := range 4 {
		callID := fmt.Sprintf("hc-up-%d", i)
		h.fromClient(token, clientMESSAGE(callID))
		idx, pk := waitEither(t, h.up, "MESSAGE", and(isRequest("MESSAGE"), hasCallID(callID)))
		back = back || idx == 0
		h.up[idx].reply(t, pk, respond(pk.msg(t), 200, "OK"))
		h.toClient(token, "200")
	}
	if !back {
		t.Error("the recovered target got no request")
	}
}

// TestInDialogRouteTargetMetrics: an in-dialog request routed by the upstream's Record-Route is
// not a new upstream target. Record-Route URIs are per dialog (Kamailio adds ;ftag=<From tag>),
// so a gauge per Route URI grows without bound, and every dialog logs "upstream target up".
func TestInDialogRouteTargetMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	up := h.up[0]
	up.drop = true
	token := h.token(32)
	for i := range 3 {
		callID := fmt.Sprintf("rr%d", i)
		h.fromClient(token, sipReq{
			Method: "BYE", RURI: "sip:bob@" + up.addr().String(),
			Via:   []string{"SIP/2.0/WS c1.invalid;branch=z9hG4bKrrbye" + callID},
			Route: []string{fmt.Sprintf("<sip:%s;lr;ftag=f%d>", up.addr(), i)},
			From:  "<sip:alice@example.com>;tag=f" + callID, To: "<sip:bob@example.com>;tag=b", CallID: callID, CSeq: 2,
		}.bytes())
		pk := up.next(t, "BYE", isRequest("BYE"))
		up.reply(t, pk, respond(pk.msg(t), 200, "OK"))
		h.toClient(token, "200 BYE")
	}
	for _, s := range metricSeries(t, h.reg, "sipws_router_upstream_up", "target") {
		if !slices.Contains([]string{up.uri()}, s) {
			t.Errorf("sipws_router_upstream_up has a series for %q, which is a dialog's Route, not a configured target", s)
		}
	}
}
