package config

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// DefaultWatchInterval is the poll interval Watch uses when given 0.
const DefaultWatchInterval = time.Second

// Watch polls path every interval (DefaultWatchInterval if ≤ 0) until ctx is done, and blocks
// until then. It compares the content's SHA-256, not the inode or mtime, because a Kubernetes
// ConfigMap update swaps a "..data" symlink rather than writing the file. The first read is
// the baseline and is not reported: the caller has already loaded the file. When the content
// changes, a valid config goes to onChange; an invalid one goes to onError and the previous
// config stays in force (onChange is not called). When onChange fails (the config is valid but
// cannot be applied yet, e.g. it names a certificate file the kubelet has not written yet),
// the error goes to onError and the same content is tried again at the next poll, until it
// applies or the file changes. Each error is reported once per content rather than every
// interval. Either callback may be nil; they are called from Watch's goroutine, one at a time.
func Watch(ctx context.Context, path string, interval time.Duration, onChange func(*Config) error, onError func(error)) {
	watch(ctx, path, interval, onChange, onError, nil)
}

// watch is Watch with a hook called after the baseline read, so tests need not guess when
// their next write counts as a change.
func watch(ctx context.Context, path string, interval time.Duration, onChange func(*Config) error, onError func(error), baselined func()) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	var (
		last     [32]byte // content in force
		haveLast bool
		lastErr  string // content hash and message of the last error reported
	)
	report := func(sum [32]byte, err error) {
		if key := fmt.Sprintf("%x %s", sum[:8], err); key != lastErr {
			lastErr = key
			if onError != nil {
				onError(err)
			}
		}
	}
	poll := func(baseline bool) {
		data, err := os.ReadFile(path)
		if err != nil {
			// Keep last: if the same content comes back there is nothing to reload.
			report([32]byte{}, fmt.Errorf("config: %w", err))
			return
		}
		sum := sha256.Sum256(data)
		if haveLast && sum == last {
			lastErr = ""
			return
		}
		if baseline {
			last, haveLast = sum, true
			return
		}
		cfg, err := parseFile(path, data)
		if err != nil {
			report(sum, err)
			return
		}
		if onChange != nil {
			if err := onChange(cfg); err != nil {
				report(sum, err) // not in force: tried again at the next poll
				return
			}
		}
		last, haveLast, lastErr = sum, true, ""
	}
	poll(true)
	if baselined != nil {
		baselined()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll(false)
		}
	}
}

// FileHash returns a SHA-256 over the contents of paths, in order, e.g. to notice that a
// certificate or key file was replaced. Each file is hashed separately first so that content
// moving from one file to the next still changes the result.
func FileHash(paths ...string) ([32]byte, error) {
	outer := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return [32]byte{}, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return [32]byte{}, fmt.Errorf("read %s: %w", p, err)
		}
		outer.Write(h.Sum(nil))
	}
	var sum [32]byte
	copy(sum[:], outer.Sum(nil))
	return sum, nil
}

// Current holds the config in force; readers on hot paths Load it without locking. A stored
// *Config must not be modified afterwards: build a new one and Store it.
type Current struct{ p atomic.Pointer[Config] }

// Load returns the config in force, or nil before the first Store.
func (c *Current) Load() *Config { return c.p.Load() }

// Store makes cfg the config in force.
func (c *Current) Store(cfg *Config) { c.p.Store(cfg) }
