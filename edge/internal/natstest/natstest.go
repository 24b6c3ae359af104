// Package natstest has the NATS pieces the edge's and router's tests share: an in-process
// nats-server per test, a client and a buffered subscription, all cleaned up with the test.
package natstest

import (
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/natsembed"
)

// Start runs an in-process nats-server on addr ("" or port 0: a free port); it is shut down
// at the end of the test.
func Start(t testing.TB, addr string) *natsserver.Server {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{Address: addr, Name: "test"})
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Connect is a client closed at the end of the test; opts come after a 5 s connect timeout.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("nats connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Subscribe subscribes to subj with a channel of size buffer, waits until the server has the
// interest, and unsubscribes at the end of the test.
func Subscribe(t testing.TB, nc *nats.Conn, subj string, buffer int) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, buffer)
	sub, err := nc.ChanSubscribe(subj, ch)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subj, err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}
