// Package demo holds the demo softphone local mode serves at /demo: a page with JsSIP
// (bundled at build time by `make demo-assets`, committed with its licenses, so nothing is
// fetched at run time) that registers, sends MESSAGE and calls another tab through sipws.
package demo

import (
	"embed"
	"io/fs"
	"mime"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the URL path the page lives under.
const Prefix = "/demo"

// File returns the asset for a request path under Prefix ("/demo", "/demo/",
// "/demo/demo.js") with its content type; ok is false for anything else.
func File(urlPath string) (body []byte, contentType string, ok bool) {
	rest, found := strings.CutPrefix(urlPath, Prefix)
	if !found || (rest != "" && rest[0] != '/') {
		return nil, "", false
	}
	name := strings.TrimPrefix(path.Clean("/"+rest), "/")
	if name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		return nil, "", false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return b, ct, true
}
