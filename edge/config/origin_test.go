package config

import "testing"

func TestMatchOrigin(t *testing.T) {
	exact := []string{"https://app.example.com"}
	wild := []string{"https://*.example.com"}
	tests := []struct {
		name    string
		allowed []string
		origin  string
		want    bool
	}{
		{"empty list allows any", nil, "https://evil.com", true},
		{"empty list allows missing", nil, "", true},
		{"star allows any", []string{"*"}, "http://x.y", true},
		{"star allows missing", []string{"https://a.com", "*"}, "", true},
		{"list refuses missing", exact, "", false},
		{"exact", exact, "https://app.example.com", true},
		{"case-insensitive", exact, "HTTPS://App.Example.COM", true},
		{"entry case-insensitive", []string{"HTTPS://APP.example.com"}, "https://app.example.com", true},
		{"default port equal", exact, "https://app.example.com:443", true},
		{"entry default port", []string{"https://app.example.com:443"}, "https://app.example.com", true},
		{"http default port", []string{"http://a.com:80"}, "http://a.com", true},
		{"other port", exact, "https://app.example.com:8443", false},
		{"explicit port", []string{"https://a.com:8443"}, "https://a.com:8443", true},
		{"explicit port missing", []string{"https://a.com:8443"}, "https://a.com", false},
		{"scheme differs", exact, "http://app.example.com", false},
		{"http 443 is not https", []string{"http://a.com:443"}, "https://a.com", false},
		{"other host", exact, "https://example.com", false},
		{"suffix is not a match", exact, "https://evilapp.example.com", false},
		{"wildcard one level", wild, "https://a.example.com", true},
		{"wildcard deep", wild, "https://a.b.c.example.com", true},
		{"wildcard not apex", wild, "https://example.com", false},
		{"wildcard not lookalike", wild, "https://evilexample.com", false},
		{"wildcard not suffix domain", wild, "https://a.example.com.evil.com", false},
		{"wildcard scheme", wild, "http://a.example.com", false},
		{"wildcard port", []string{"https://*.example.com:8443"}, "https://a.example.com:8443", true},
		{"wildcard default port", wild, "https://a.example.com:443", true},
		{"origin with wildcard host is literal", wild, "https://*.example.com", false},
		{"null allowed", []string{"null"}, "null", true},
		{"null not allowed", exact, "null", false},
		{"null not missing", []string{"null"}, "", false},
		{"ipv6", []string{"http://[::1]:8080"}, "http://[0:0::1]:8080", true},
		{"ipv4", []string{"http://127.0.0.1:8080"}, "http://127.0.0.1:8080", true},
		{"custom scheme", []string{"capacitor://localhost"}, "capacitor://localhost", true},
		{"origin with path refused", exact, "https://app.example.com/x", false},
		{"garbage origin", exact, "app.example.com", false},
		{"invalid entries ignored", []string{"nonsense", "https://a.com"}, "https://a.com", true},
		{"leading zero port", []string{"https://a.com:0443"}, "https://a.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchOrigin(tt.allowed, tt.origin); got != tt.want {
				t.Errorf("MatchOrigin(%q, %q) = %v, want %v", tt.allowed, tt.origin, got, tt.want)
			}
		})
	}
}

func TestValidateOriginPattern(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"*", true},
		{"null", true},
		{"https://a.com", true},
		{"https://a.com:8443", true},
		{"https://*.a.com", true},
		{"http://[::1]", true},
		{"chrome-extension://abcdef", true},
		{"", false},
		{"a.com", false},
		{"https://", false},
		{"https://a.com/", false},
		{"https://a.com?x", false},
		{"https://u@a.com", false},
		{"https://a.com:", false},
		{"https://a.com:0", false},
		{"https://a.com:x", false},
		{"https://*.com:65536", false},
		{"https://*", false},
		{"https://a*.com", false},
		{"https://[::1", false},
		{"https://[1.2.3.4]", false},
		{"https://a..com", false},
		{"1http://a.com", false},
		{"https://a com", false},
	}
	for _, tt := range tests {
		if err := validateOriginPattern(tt.in); (err == nil) != tt.ok {
			t.Errorf("validateOriginPattern(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
