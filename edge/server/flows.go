package server

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const flowShards = 64

// flowTable maps flow tokens to conns, sharded so deliveries from NATS and registrations from
// handshakes rarely contend.
type flowTable struct {
	seed   maphash.Seed
	shards [flowShards]struct {
		mu sync.RWMutex
		m  map[string]*conn
	}
	count atomic.Int64
}

func (t *flowTable) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[string]*conn)
	}
}

func (t *flowTable) shard(token string) int {
	return int(maphash.String(t.seed, token) % flowShards)
}

func (t *flowTable) add(c *conn) {
	sh := &t.shards[t.shard(c.token)]
	sh.mu.Lock()
	sh.m[c.token] = c
	sh.mu.Unlock()
	t.count.Add(1)
}

func (t *flowTable) remove(c *conn) {
	sh := &t.shards[t.shard(c.token)]
	sh.mu.Lock()
	if sh.m[c.token] == c {
		delete(sh.m, c.token)
		t.count.Add(-1)
	}
	sh.mu.Unlock()
}

func (t *flowTable) get(token string) *conn {
	sh := &t.shards[t.shard(token)]
	sh.mu.RLock()
	c := sh.m[token]
	sh.mu.RUnlock()
	return c
}

// snapshot appends every conn to dst.
func (t *flowTable) snapshot(dst []*conn) []*conn {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, c := range sh.m {
			dst = append(dst, c)
		}
		sh.mu.RUnlock()
	}
	return dst
}
