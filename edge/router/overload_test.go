package router

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/sipmsg"
)

// TestTransactionBound: with router.maxTransactions in progress on a side, a new request from
// that side is answered 503 with Retry-After by the router instead of being relayed, counted,
// and the next request after a transaction ended is relayed again.
func TestTransactionBound(t *testing.T) {
	const bound = 2
	h := newHarness(t, harnessOpts{adjust: func(c *config.Config, _ []*udpPeer) { c.Router.MaxTransactions = bound }})
	up := h.up[0]
	tok := h.token(41)
	callID := func(i int) string { return fmt.Sprintf("bound-%d", i) }
	hasCallID := func(id string) func(packet) bool {
		return func(p packet) bool {
			return p.msg(t).Request && bytes.Contains(p.data, []byte("Call-ID: "+id+"\r\n"))
		}
	}
	clientMessage := func(i int) []byte {
		return sipReq{
			Method: "MESSAGE", RURI: "sip:bob@example.com",
			Via:  []string{fmt.Sprintf("SIP/2.0/WSS c1.invalid;branch=z9hG4bKbound%d", i)},
			From: "<sip:alice@example.com>;tag=b" + callID(i), To: "<sip:bob@example.com>",
			CallID: callID(i), CSeq: 1,
		}.bytes()
	}
	get := func(m *sipmsg.Msg, name string) string { v, _ := m.Get(name); return v }
	gauge := func(from string) float64 {
		v, _ := metricValue(t, h.reg, "sipws_router_transactions", map[string]string{"from": from})
		return v
	}

	// Client side: two MESSAGEs wait for answers upstream; the third is refused.
	var first packet
	for i := 1; i <= bound; i++ {
		h.fromClient(tok, clientMessage(i))
		pk := up.next(t, "MESSAGE "+callID(i), hasCallID(callID(i)))
		if i == 1 {
			first = pk
		}
	}
	if g := gauge("client"); g != bound {
		t.Errorf("client transactions gauge %v, want %d", g, bound)
	}
	h.fromClient(tok, clientMessage(3))
	resp := mustParse(t, h.toClient(tok, "503 to the third MESSAGE").Data)
	if resp.StatusCode != 503 || get(resp, "Call-ID") != callID(3) || get(resp, "Retry-After") != "5" {
		t.Fatalf("client got %d (Call-ID %q, Retry-After %q), want 503 to %s with Retry-After 5",
			resp.StatusCode, get(resp, "Call-ID"), get(resp, "Retry-After"), callID(3))
	}
	up.none(t, "the refused MESSAGE", hasCallID(callID(3)))
	if v, _ := metricValue(t, h.reg, "sipws_router_overload_total", map[string]string{"from": "client"}); v != 1 {
		t.Errorf("overload_total{from=client} = %v, want 1", v)
	}
	// An answer ends the first transaction: the next request goes upstream.
	up.reply(t, first, respond(first.msg(t), 200, "OK"))
	if r := mustParse(t, h.toClient(tok, "200 to the first MESSAGE").Data); r.StatusCode != 200 {
		t.Fatalf("first MESSAGE answered %d", r.StatusCode)
	}
	waitFor(t, func() bool { return gauge("client") == bound-1 }, "a finished transaction leaves the table")
	h.fromClient(tok, clientMessage(4))
	up.next(t, "MESSAGE after a slot freed", hasCallID(callID(4)))

	// Upstream side: requests to the client wait for its answers; one past the bound is
	// answered 503 to the upstream and not relayed.
	for i := 1; i <= bound; i++ {
		up.send(t, up.router, upstreamMsg("MESSAGE", tok, up, fmt.Sprintf("z9hG4bKupbound%d", i)).bytes())
		h.toClient(tok, fmt.Sprintf("upstream MESSAGE %d", i))
	}
	up.send(t, up.router, upstreamMsg("MESSAGE", tok, up, "z9hG4bKupbound3").bytes())
	pk := expectUpstreamStatus(t, up, "MESSAGE", 503)
	if m := pk.msg(t); get(m, "Retry-After") != "5" || topBranch(t, pk.data) != "z9hG4bKupbound3" {
		t.Errorf("503 upstream: Retry-After %q, branch %q", get(m, "Retry-After"), topBranch(t, pk.data))
	}
	h.noClientMsg("the refused upstream MESSAGE")
	if v, _ := metricValue(t, h.reg, "sipws_router_overload_total", map[string]string{"from": "upstream"}); v != 1 {
		t.Errorf("overload_total{from=upstream} = %v, want 1", v)
	}
}

// TestTxTableBoundExact: adds racing in different shards never store more than the limit, a
// key already stored is returned instead of refused, and a removal frees a place.
func TestTxTableBoundExact(t *testing.T) {
	const limit, workers, perWorker = 100, 8, 50
	tt := newTxTable()
	var wg sync.WaitGroup
	var stored atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				if _, ok := tt.add(&tx{key: fmt.Sprintf("k%d-%d", w, i)}, limit); ok {
					stored.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if stored.Load() != limit || tt.len() != limit {
		t.Fatalf("stored %d, table holds %d; want exactly %d", stored.Load(), tt.len(), limit)
	}
	var some *tx
	tt.each(func(x *tx) { some = x })
	if old, ok := tt.add(&tx{key: some.key}, limit); ok || old != some {
		t.Fatalf("re-adding a stored key: got %p, %v; want the stored transaction %p", old, ok, some)
	}
	if old, ok := tt.add(&tx{key: "new"}, limit); ok || old != nil {
		t.Fatalf("add over the limit: got %v, %v; want nil, false", old, ok)
	}
	tt.remove(some)
	if _, ok := tt.add(&tx{key: "new"}, limit); !ok || tt.len() != limit {
		t.Fatalf("add after a removal: ok %v, len %d", ok, tt.len())
	}
}
