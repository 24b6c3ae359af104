package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	pollInterval = 20 * time.Millisecond
	waitTimeout  = 5 * time.Second
)

func config(gateway string) string {
	return strings.Replace(minimal, "gateway: gw", "gateway: "+gateway, 1)
}

// watcher runs Watch on path and exposes its callbacks as channels.
type watcher struct {
	changes chan *Config
	errs    chan error
	fail    func(*Config) error // onChange's result; nil: success
}

func startWatch(t *testing.T, path string) *watcher {
	t.Helper()
	return startWatchFailing(t, path, nil)
}

func startWatchFailing(t *testing.T, path string, fail func(*Config) error) *watcher {
	t.Helper()
	w := &watcher{changes: make(chan *Config, 64), errs: make(chan error, 16), fail: fail}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		watch(ctx, path, pollInterval, func(c *Config) error {
			w.changes <- c
			if w.fail != nil {
				return w.fail(c)
			}
			return nil
		}, func(err error) { w.errs <- err }, func() { close(ready) })
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait() // Watch must return promptly when ctx is done
	})
	// The test's next edit must come after the baseline read to count as a change.
	select {
	case <-ready:
	case <-time.After(waitTimeout):
		t.Fatal("no baseline read")
	}
	return w
}

func (w *watcher) change(t *testing.T) *Config {
	t.Helper()
	select {
	case c := <-w.changes:
		return c
	case err := <-w.errs:
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("no change reported")
	}
	return nil
}

func (w *watcher) err(t *testing.T) error {
	t.Helper()
	select {
	case c := <-w.changes:
		t.Fatalf("unexpected change: gateway %q", c.Gateway)
	case err := <-w.errs:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("no error reported")
	}
	return nil
}

// quiet asserts nothing is reported over a few poll intervals.
func (w *watcher) quiet(t *testing.T) {
	t.Helper()
	select {
	case c := <-w.changes:
		t.Fatalf("unexpected change: gateway %q", c.Gateway)
	case err := <-w.errs:
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(5 * pollInterval):
	}
}

// write replaces path atomically, as editors and the kubelet do: os.WriteFile truncates
// first, and a poll in between would rightly report the empty file as invalid.
func write(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchPlainFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sipws.yaml")
	write(t, path, config("one"))
	w := startWatch(t, path)
	w.quiet(t) // the baseline is not reported

	write(t, path, config("two"))
	if c := w.change(t); c.Gateway != "two" {
		t.Errorf("gateway = %q", c.Gateway)
	}
	// Rewriting identical content (new mtime) is not a change.
	write(t, path, config("two"))
	w.quiet(t)

	write(t, path, config("two")+"bogus: true\n")
	if err := w.err(t); !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("error = %v", err)
	}
	w.quiet(t) // the same invalid content is reported once

	write(t, path, config("three"))
	if c := w.change(t); c.Gateway != "three" {
		t.Errorf("gateway = %q", c.Gateway)
	}
}

func TestWatchMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sipws.yaml")
	w := startWatch(t, path)
	if err := w.err(t); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("error = %v", err)
	}
	w.quiet(t) // the same read error is reported once
	write(t, path, config("late"))
	if c := w.change(t); c.Gateway != "late" {
		t.Errorf("gateway = %q", c.Gateway)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// kubelet lays out a ConfigMap volume as the kubelet does: the file is a symlink through
// "..data", which is itself a symlink to a timestamped directory swapped by rename.
type kubelet struct {
	t   *testing.T
	dir string
	gen int
	cur string
}

func (k *kubelet) update(content string) {
	k.t.Helper()
	k.gen++
	ts := filepath.Join(k.dir, "..2026_01_01_00_00_0"+string(rune('0'+k.gen)))
	if err := os.Mkdir(ts, 0o755); err != nil {
		k.t.Fatal(err)
	}
	write(k.t, filepath.Join(ts, "sipws.yaml"), content)
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		k.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		k.t.Fatal(err)
	}
	if k.cur != "" {
		if err := os.RemoveAll(k.cur); err != nil {
			k.t.Fatal(err)
		}
	}
	k.cur = ts
	link := filepath.Join(k.dir, "sipws.yaml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", "sipws.yaml"), link); err != nil {
			k.t.Fatal(err)
		}
	}
}

func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	k := &kubelet{t: t, dir: t.TempDir()}
	k.update(config("one"))
	path := filepath.Join(k.dir, "sipws.yaml")
	if c, err := Load(path); err != nil || c.Gateway != "one" {
		t.Fatalf("Load = %v, %v", c, err)
	}
	w := startWatch(t, path)

	k.update(config("two"))
	if c := w.change(t); c.Gateway != "two" {
		t.Errorf("gateway = %q", c.Gateway)
	}

	// An invalid update is reported and does not replace the config in force.
	var cur Current
	cur.Store(&Config{Gateway: "two"})
	k.update(config("two") + "workers: -1\n")
	if err := w.err(t); !strings.Contains(err.Error(), "workers") {
		t.Errorf("error = %v", err)
	}
	if cur.Load().Gateway != "two" {
		t.Errorf("current changed")
	}

	k.update(config("three"))
	c := w.change(t)
	cur.Store(c)
	if cur.Load().Gateway != "three" {
		t.Errorf("gateway = %q", cur.Load().Gateway)
	}
}

func TestFileHash(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "ab")
	write(t, b, "c")
	h1, err := FileHash(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if h2, _ := FileHash(a, b); h2 != h1 {
		t.Error("hash not stable")
	}
	// Same concatenated bytes split differently must differ.
	write(t, a, "a")
	write(t, b, "bc")
	if h3, _ := FileHash(a, b); h3 == h1 {
		t.Error("hash ignores file boundaries")
	}
	if _, err := FileHash(a, filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
	if h, err := FileHash(); err != nil || h == ([32]byte{}) {
		t.Errorf("FileHash() = %x, %v", h, err)
	}
}

// A valid config that cannot be applied yet (a file it names is not there yet) is tried again
// at the next poll without a new edit, and its error is reported once.
func TestWatchRetriesFailedApply(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sipws.yaml")
	write(t, path, config("one"))
	var mu sync.Mutex
	attempts := 0
	w := startWatchFailing(t, path, func(c *Config) error {
		mu.Lock()
		defer mu.Unlock()
		if c.Gateway != "two" {
			return nil
		}
		attempts++
		if attempts < 4 {
			return errors.New("certificate file not there yet")
		}
		return nil
	})
	w.quiet(t)
	write(t, path, config("two"))
	changes, errs := 0, 0
	for changes < 4 { // 3 failed attempts and the one that applies, from one edit
		select {
		case c := <-w.changes:
			if c.Gateway != "two" {
				t.Fatalf("attempt %d: gateway = %q", changes+1, c.Gateway)
			}
			changes++
		case err := <-w.errs:
			if !strings.Contains(err.Error(), "not there yet") {
				t.Fatalf("error = %v", err)
			}
			errs++
		case <-time.After(waitTimeout):
			t.Fatalf("%d attempts to apply, want 4", changes)
		}
	}
	if errs != 1 {
		t.Errorf("the apply error was reported %d times, want once", errs)
	}
	w.quiet(t) // applied: no more attempts, and the error was reported once
}
