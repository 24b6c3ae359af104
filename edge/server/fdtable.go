package server

import (
	"sync"
	"sync/atomic"
)

const fdChunk = 4096

// fdTable maps file descriptors to flows for the poll loop. It grows in chunks as descriptor
// numbers grow, so its size follows the peak number of open sockets rather than RLIMIT_NOFILE
// (which is often a million in containers). Lookups take no lock.
type fdTable struct {
	mu     sync.Mutex // serialises growth
	chunks atomic.Pointer[[]*[fdChunk]atomic.Pointer[conn]]
}

func (t *fdTable) slot(fd int, grow bool) *atomic.Pointer[conn] {
	i, j := fd/fdChunk, fd%fdChunk
	if cs := t.chunks.Load(); cs != nil && i < len(*cs) && (*cs)[i] != nil {
		return &(*cs)[i][j]
	}
	if !grow {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var cs []*[fdChunk]atomic.Pointer[conn]
	if old := t.chunks.Load(); old != nil {
		cs = *old
	}
	if i >= len(cs) {
		cs = append(cs[:len(cs):len(cs)], make([]*[fdChunk]atomic.Pointer[conn], i+1-len(cs))...)
	} else {
		cs = append([]*[fdChunk]atomic.Pointer[conn](nil), cs...)
	}
	if cs[i] == nil {
		cs[i] = new([fdChunk]atomic.Pointer[conn])
	}
	t.chunks.Store(&cs)
	return &cs[i][j]
}

func (t *fdTable) get(fd int) *conn {
	if s := t.slot(fd, false); s != nil {
		return s.Load()
	}
	return nil
}

func (t *fdTable) set(fd int, c *conn) {
	t.slot(fd, true).Store(c)
}

func (t *fdTable) clear(fd int) {
	if s := t.slot(fd, false); s != nil {
		s.Store(nil)
	}
}
