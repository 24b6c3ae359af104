package registrar

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sipws/sipws/edge/natsembed"
)

func startJS(t *testing.T, dir string) (url string, stop func()) {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{Name: "registrar-store-test", JetStreamDir: dir})
	if err != nil {
		t.Fatalf("nats-server with JetStream: %v", err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
	t.Cleanup(stop)
	return ns.ClientURL(), stop
}

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := OpenStore(ctx, nc, "test-bindings", 2*time.Hour, 1)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return st
}

// Two stores (two router replicas, two connections) adding contacts to one AOR at the same
// time: compare-and-set on the key's revision keeps every contact.
func TestStoreConcurrentUpdates(t *testing.T) {
	url, _ := startJS(t, t.TempDir())
	stores := []*Store{openStore(t, url), openStore(t, url)}
	const perStore = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*perStore)
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perStore {
				c := Contact{URI: fmt.Sprintf("sip:u@h%d-%d.invalid", i, j), Flow: fmt.Sprintf("flow%d-%d", i, j), Expires: time.Now().Add(time.Hour).Unix()}
				_, err := st.Update(t.Context(), "sip:shared@example.com", func(r *Record) error {
					r.Contacts = append(r.Contacts, c)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("update: %v", err)
	}
	rec, found, err := stores[0].Get(t.Context(), "sip:shared@example.com")
	if err != nil || !found {
		t.Fatalf("Get: %v %v", found, err)
	}
	if len(rec.Contacts) != 2*perStore {
		t.Fatalf("%d contacts after %d concurrent adds: an update was lost", len(rec.Contacts), 2*perStore)
	}
}

func TestStoreExpiryAndRemoveFlow(t *testing.T) {
	url, _ := startJS(t, t.TempDir())
	st := openStore(t, url)
	now := time.Unix(1_700_000_000, 0)
	st.now = func() time.Time { return now }
	add := func(aor, uri, flow string, ttl time.Duration) {
		t.Helper()
		if _, err := st.Update(t.Context(), aor, func(r *Record) error {
			r.Contacts = append(r.Contacts, Contact{URI: uri, Flow: flow, Expires: now.Add(ttl).Unix()})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("sip:a@x", "sip:a@1.invalid", "f1", time.Minute)
	add("sip:a@x", "sip:a@2.invalid", "f2", time.Hour)
	add("sip:b@x", "sip:b@1.invalid", "f1", time.Hour)
	count := func(aor string) int {
		rec, _, err := st.Get(t.Context(), aor)
		if err != nil {
			t.Fatal(err)
		}
		return len(rec.Contacts)
	}
	if n := count("sip:a@x"); n != 2 {
		t.Fatalf("a has %d contacts, want 2", n)
	}
	now = now.Add(2 * time.Minute)
	if n := count("sip:a@x"); n != 1 {
		t.Fatalf("a has %d contacts after the first expired, want 1", n)
	}
	n, err := st.RemoveFlow(t.Context(), "f1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 { // a's f1 contact had already expired
		t.Errorf("RemoveFlow removed %d contacts, want 1", n)
	}
	if count("sip:b@x") != 0 || count("sip:a@x") != 1 {
		t.Errorf("after RemoveFlow(f1): b=%d a=%d, want 0 and 1", count("sip:b@x"), count("sip:a@x"))
	}
	if n, err := st.RemoveFlow(t.Context(), "f1"); err != nil || n != 0 {
		t.Errorf("second RemoveFlow: %d, %v", n, err)
	}
}

// Bindings are in JetStream's file store: a NATS server restarted on the same directory
// (local mode with --nats-store, or a NATS cluster) still has them.
func TestStoreSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	url, stop := startJS(t, dir)
	st := openStore(t, url)
	if _, err := st.Update(t.Context(), "sip:keep@x", func(r *Record) error {
		r.Contacts = append(r.Contacts, Contact{URI: "sip:keep@1.invalid", Flow: "f", Expires: time.Now().Add(time.Hour).Unix()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	url2, _ := startJS(t, dir)
	rec, found, err := openStore(t, url2).Get(t.Context(), "sip:keep@x")
	if err != nil || !found || len(rec.Contacts) != 1 {
		t.Fatalf("after restart: found=%v contacts=%d err=%v", found, len(rec.Contacts), err)
	}
}
