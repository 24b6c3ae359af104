package demo

import (
	"strings"
	"testing"
)

func TestFile(t *testing.T) {
	for _, tc := range []struct {
		path, ctype string
		ok          bool
	}{
		{"/demo", "text/html", true},
		{"/demo/", "text/html", true},
		{"/demo/index.html", "text/html", true},
		{"/demo/demo.js", "javascript", true},
		{"/demo/jssip.min.js", "javascript", true},
		{"/demo/demo.css", "text/css", true},
		{"/demo/../demo.go", "", false},
		{"/demo/nope", "", false},
		{"/demonstration", "", false},
		{"/", "", false},
	} {
		b, ct, ok := File(tc.path)
		if ok != tc.ok || ok && (len(b) == 0 || !strings.Contains(ct, tc.ctype)) {
			t.Errorf("File(%q) = %d bytes, %q, %v; want %q, %v", tc.path, len(b), ct, ok, tc.ctype, tc.ok)
		}
	}
	// The page loads only what is embedded: no script or style from another origin.
	page, _, _ := File("/demo/")
	if strings.Contains(string(page), "://") && strings.Contains(string(page), "src=\"http") {
		t.Error("the demo page loads something from the network")
	}
}
