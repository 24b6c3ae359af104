package router

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipws/sipws/edge/flow"
	"github.com/sipws/sipws/edge/sipmsg"
	"github.com/sipws/sipws/edge/siptransport"
)

// txTable holds transactions by key, sharded to keep the lock short.
type txTable struct {
	shards [32]struct {
		mu sync.Mutex
		m  map[string]*tx
	}
	n atomic.Int64 // transactions in the table
}

// len is the number of transactions in the table.
func (t *txTable) len() int64 { return t.n.Load() }

func newTxTable() *txTable {
	t := &txTable{}
	for i := range t.shards {
		t.shards[i].m = map[string]*tx{}
	}
	return t
}

func (t *txTable) shard(key string) int {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(len(t.shards)))
}

func (t *txTable) get(key string) *tx {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[key]
}

// add stores x unless a transaction with its key exists (it returns that one, false) or the
// table already holds limit transactions (it returns nil, false). The count is reserved before
// the insert, so concurrent adds in different shards never store more than limit.
func (t *txTable) add(x *tx, limit int64) (*tx, bool) {
	sh := &t.shards[t.shard(x.key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.m[x.key]; old != nil {
		return old, false
	}
	if t.n.Add(1) > limit {
		t.n.Add(-1)
		return nil, false
	}
	sh.m[x.key] = x
	return x, true
}

func (t *txTable) remove(x *tx) {
	sh := &t.shards[t.shard(x.key)]
	sh.mu.Lock()
	if sh.m[x.key] == x {
		delete(sh.m, x.key)
		t.n.Add(-1)
	}
	sh.mu.Unlock()
}

func (t *txTable) each(f func(*tx)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		xs := make([]*tx, 0, len(sh.m))
		for _, x := range sh.m {
			xs = append(xs, x)
		}
		sh.mu.Unlock()
		for _, x := range xs {
			f(x)
		}
	}
}

func (t *txTable) stopAll() {
	t.each(func(x *tx) {
		x.mu.Lock()
		x.stopTimers()
		x.mu.Unlock()
		t.remove(x)
	})
}

// tx is a transaction the router keeps state for.
//
// Client transactions (router → upstream) exist to retransmit over UDP (the WebSocket client
// will not: its transport is reliable), to fail over to the next target on timeout, transport
// error or 503, and to answer 408 when no final response comes.
//
// Server transactions (upstream → client) absorb the upstream's UDP retransmissions, answering
// them with the last response, and let a flow failure be answered with 430.
type tx struct {
	key    string
	method string
	token  string
	flow   flow.Flow

	mu    sync.Mutex
	state int
	start time.Time

	// client transaction
	route     *upstream
	cands     []*target
	idx       int
	dst       siptransport.Target
	pinned    *siptransport.Target // fixed destination (CANCEL follows its INVITE)
	msg       *sipmsg.Msg          // request for this hop, re-sent on failover
	branch    string
	out       []byte // request as sent upstream
	clientReq []byte // server transaction: the upstream's request (for our own 430)
	interval  time.Duration
	retrans   *time.Timer
	failover  *time.Timer
	timeout   *time.Timer
	probe     *target // health probe: no client

	// server transaction
	from      netip.AddrPort
	transport string
	last      []byte // last response sent upstream
	expire    *time.Timer
}

// asSent is a client transaction's request as the client's side sees it, without our Via:
// what our own 408 or 503 answers. Built only then, so the common path keeps no copy.
func (x *tx) asSent() []byte {
	c := *x.msg
	c.Headers = slices.Clone(x.msg.Headers)
	if topViaOurs(&c) {
		c.PopValue("Via")
	}
	return c.Bytes()
}

// Transaction states.
const (
	txTrying = iota
	txProceeding
	txCompleted
)

func (x *tx) stopTimers() {
	for _, t := range []*time.Timer{x.retrans, x.failover, x.timeout, x.expire} {
		if t != nil {
			t.Stop()
		}
	}
}
