package server

import "testing"

func TestFDTable(t *testing.T) {
	var tb fdTable
	a, b := &conn{}, &conn{}
	tests := []struct {
		fd int
		c  *conn
	}{{0, a}, {fdChunk - 1, b}, {fdChunk, a}, {5*fdChunk + 7, b}}
	for _, tc := range tests {
		if got := tb.get(tc.fd); got != nil {
			t.Fatalf("get(%d) before set = %p, want nil", tc.fd, got)
		}
		tb.set(tc.fd, tc.c)
	}
	for _, tc := range tests {
		if got := tb.get(tc.fd); got != tc.c {
			t.Errorf("get(%d) = %p, want %p", tc.fd, got, tc.c)
		}
	}
	tb.clear(fdChunk)
	if tb.get(fdChunk) != nil || tb.get(0) != a {
		t.Error("clear removed the wrong entry")
	}
	if tb.get(100*fdChunk) != nil {
		t.Error("get beyond the table must be nil")
	}
	tb.clear(100 * fdChunk) // must not grow or panic
}
