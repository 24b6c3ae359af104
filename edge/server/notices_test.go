package server_test

import (
	"testing"

	"github.com/gobwas/ws"

	"github.com/sipws/sipws/edge/bus"
)

func checkNotice(t *testing.T, n bus.Notice, event, flow string) {
	t.Helper()
	if n.Event != event || n.Node != testNode || n.Flow != flow || n.Time == 0 {
		t.Errorf("notice %+v, want event %s node %s flow %q and a time", n, event, testNode, flow)
	}
}

func TestFlowFailedUnknownFlow(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	if got, want := e.s.Subjects().Node(testNode), "sipws."+testGateway+".node."+testNode; got != want {
		t.Fatalf("node subject %q, want %q", got, want)
	}
	const token = "no-such-flow"
	if err := e.nc.Publish("sipws."+testGateway+".out."+testNode+"."+token, []byte(sipResponse("x"))); err != nil {
		t.Fatal(err)
	}
	n, m := waitNotice(t, notices, bus.EventFlowFailed, token, waitLong)
	checkNotice(t, n, bus.EventFlowFailed, token)
	if n.Reason != "unknown-flow" {
		t.Errorf("reason %q, want unknown-flow", n.Reason)
	}
	if m.Header.Get(bus.HeaderFlow) != token {
		t.Errorf("%s header %q, want %q", bus.HeaderFlow, m.Header.Get(bus.HeaderFlow), token)
	}
	waitMetric(t, e.s, "sipws_edge_unknown_flow_total", nil, equals(1), "unknown flow counted")
}

func TestFlowClosedThenFailed(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	c := dial(t, e.url("ws", "/"))
	tok := flowOf(t, c, e.in, "closed-1")
	c.sendClose(1000)
	c.expectClose(1000, waitLong)
	n, m := waitNotice(t, notices, bus.EventFlowClosed, tok, waitLong)
	checkNotice(t, n, bus.EventFlowClosed, tok)
	if m.Header.Get(bus.HeaderFlow) != tok {
		t.Errorf("%s header %q, want %q", bus.HeaderFlow, m.Header.Get(bus.HeaderFlow), tok)
	}
	e.out(t, tok, []byte(sipResponse("closed-1")))
	n, _ = waitNotice(t, notices, bus.EventFlowFailed, tok, waitLong)
	checkNotice(t, n, bus.EventFlowFailed, tok)
}

func TestFlowClosedOnDisconnect(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	c := dial(t, e.url("ws", "/"))
	tok := flowOf(t, c, e.in, "dropped-1")
	c.conn.Close() // no close frame: TCP goes away
	n, _ := waitNotice(t, notices, bus.EventFlowClosed, tok, waitLong)
	checkNotice(t, n, bus.EventFlowClosed, tok)
	e.out(t, tok, []byte(sipResponse("dropped-1")))
	waitNotice(t, notices, bus.EventFlowFailed, tok, waitLong)
	waitFor(t, waitLong, func() bool { return e.s.Flows() == 0 }, "flow forgotten")
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	notices := subscribe(t, e.nc, e.s.Subjects().NodeAll())
	c1 := dial(t, e.url("ws", "/"))
	c2 := dial(t, e.url("ws", "/"))
	c1.ping("1")
	c2.ping("2")
	// Two heartbeats in a row that report both flows.
	seen := 0
	for seen < 2 {
		n, m := waitNotice(t, notices, bus.EventHeartbeat, "", waitLong)
		if m.Subject != e.s.Subjects().Node(testNode) {
			t.Fatalf("heartbeat on %q", m.Subject)
		}
		if n.Node != testNode || n.Time == 0 {
			t.Fatalf("heartbeat %+v", n)
		}
		if n.Flows == 2 {
			seen++
		}
	}
	c1.sendClose(1000)
	c1.expectClose(1000, waitLong)
	for i := 0; ; i++ {
		n, _ := waitNotice(t, notices, bus.EventHeartbeat, "", waitLong)
		if n.Flows == 1 {
			break
		}
		if i == 5 {
			t.Fatalf("heartbeats still report %d flows after one closed", n.Flows)
		}
	}
}

// TestFlowFailedWhileClosing: a message for a flow the edge is closing is not written; the
// routers get flow-failed with reason "closed".
func TestFlowFailedWhileClosing(t *testing.T) {
	t.Parallel()
	e := newTestEdge(t, nil)
	notices := subscribe(t, e.nc, e.s.Subjects().Node(testNode))
	c := dial(t, e.url("ws", "/"))
	tok := flowOf(t, c, e.in, "closing-1")
	// Invalid UTF-8 makes the edge close (1007) and wait for the client's close, which this
	// client holds back.
	c.writeFrame(true, ws.OpText, []byte("\xff"))
	code, _, err := c.awaitClose(waitLong)
	if err != nil || code != 1007 {
		t.Fatalf("close %d %v, want 1007", code, err)
	}
	e.out(t, tok, []byte(sipResponse("closing-1")))
	n, _ := waitNotice(t, notices, bus.EventFlowFailed, tok, waitLong)
	if n.Reason != "closed" {
		t.Errorf("flow-failed reason %q, want closed", n.Reason)
	}
	// Nothing but the end of the connection follows the close frame.
	_ = c.writeRaw(frameBytes(true, ws.OpClose, closePayload(1007)))
	c.expectEOF(waitLong)
}
