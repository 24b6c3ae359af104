package flow

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func b64secret(n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = byte(i * 7)
	}
	return base64.StdEncoding.EncodeToString(s)
}

func TestParseKeyring(t *testing.T) {
	s32, s64, s31 := b64secret(32), b64secret(64), b64secret(31)
	tests := []struct {
		name    string
		yaml    string
		current uint8
		err     string // substring; "" for success
	}{
		{"valid", "current: 2\nkeys:\n  - id: 1\n    secret: " + s32 + "\n  - id: 2\n    secret: " + s64 + "\n", 2, ""},
		{"valid single", "current: 1\nkeys:\n- id: 1\n  secret: " + s32 + "\n", 1, ""},
		{"valid id 0", "current: 0\nkeys:\n- id: 0\n  secret: " + s32 + "\n", 0, ""},
		{"valid JSON", `{"current": 9, "keys": [{"id": 9, "secret": "` + s32 + `"}]}`, 9, ""},
		{"unknown top-level field", "current: 1\nrotate: true\nkeys:\n- id: 1\n  secret: " + s32 + "\n", 0, `unknown field "rotate"`},
		{"unknown key field", "current: 1\nkeys:\n- id: 1\n  secret: " + s32 + "\n  algorithm: sha256\n", 0, `unknown field "algorithm"`},
		{"misspelt field", "current: 1\nkeys:\n- id: 1\n  secrets: " + s32 + "\n", 0, "unknown field"},
		{"duplicate field", "current: 1\ncurrent: 2\nkeys:\n- id: 1\n  secret: " + s32 + "\n", 0, "current"},
		{"short secret", "current: 1\nkeys:\n- id: 1\n  secret: " + s31 + "\n", 0, "key 1: secret is 31 bytes, need at least 32"},
		{"empty secret", "current: 1\nkeys:\n- id: 1\n", 0, "secret is 0 bytes"},
		{"duplicate ids", "current: 1\nkeys:\n- id: 1\n  secret: " + s32 + "\n- id: 1\n  secret: " + s64 + "\n", 0, "duplicate key id 1"},
		{"current not among keys", "current: 3\nkeys:\n- id: 1\n  secret: " + s32 + "\n", 0, "current key 3 is not in the key ring"},
		{"current absent", "keys:\n- id: 1\n  secret: " + s32 + "\n", 0, "current is missing"},
		{"current out of range", "current: 256\nkeys:\n- id: 1\n  secret: " + s32 + "\n", 0, "key id 256 out of range"},
		{"id absent", "current: 1\nkeys:\n- secret: " + s32 + "\n", 0, "keys[0]: id is missing"},
		{"id negative", "current: 1\nkeys:\n- id: -1\n  secret: " + s32 + "\n", 0, "keys[0]: key id -1 out of range"},
		{"id not a number", "current: 1\nkeys:\n- id: one\n  secret: " + s32 + "\n", 0, "parse key ring"},
		{"bad base64", "current: 1\nkeys:\n- id: 1\n  secret: '" + s32[:20] + "!" + s32[21:] + "'\n", 0, "key 1: secret is not standard base64"},
		{"base64url instead of std", "current: 1\nkeys:\n- id: 1\n  secret: " + strings.NewReplacer("+", "-", "/", "_").Replace(b64secret(48)) + "\n", 0, "not standard base64"},
		{"no keys", "current: 1\nkeys: []\n", 0, "no keys"},
		{"empty file", "", 0, "current is missing"},
		{"not YAML", "current: [1\n", 0, "parse key ring"},
	}
	if !strings.ContainsAny(b64secret(48), "+/") {
		t.Fatal("base64url case needs a secret whose std encoding has + or /")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeyring([]byte(tt.yaml))
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Current() != tt.current {
					t.Errorf("Current() = %d, want %d", k.Current(), tt.current)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// TestParseKeyringWraps checks that causes stay reachable with errors.Is / errors.As.
func TestParseKeyringWraps(t *testing.T) {
	_, err := ParseKeyring([]byte("current: 1\nkeys:\n- id: 1\n  secret: '!!!!'\n"))
	var cie base64.CorruptInputError
	if !errors.As(err, &cie) {
		t.Errorf("bad base64: %v does not wrap base64.CorruptInputError", err)
	}
	_, err = LoadKeyring(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap fs.ErrNotExist", err)
	}
}

func TestParsedKeyringMatchesNewKeyring(t *testing.T) {
	secret := testSecret(4, 0)
	parsed, err := ParseKeyring([]byte("current: 4\nkeys:\n- id: 4\n  secret: " + base64.StdEncoding.EncodeToString(secret) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	built := mustRing(t, 4, 4)
	f := Flow{Node: "edge-4", Serial: 4}
	a, _ := parsed.Encode(f)
	b, _ := built.Encode(f)
	if a != b {
		t.Errorf("parsed ring token %q, built ring token %q", a, b)
	}
}

func TestGenerateKeyringFile(t *testing.T) {
	for _, id := range []uint8{0, 1, 255} {
		data, err := GenerateKeyringFile(id)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "keys.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadKeyring(path)
		if err != nil {
			t.Fatalf("LoadKeyring of generated file:\n%s\n%v", data, err)
		}
		if k.Current() != id {
			t.Errorf("Current() = %d, want %d", k.Current(), id)
		}
		tok, err := k.Encode(Flow{Node: "n", Serial: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.Decode(tok); err != nil || got.KeyID != id {
			t.Errorf("Decode = %+v, %v", got, err)
		}
	}
	a, _ := GenerateKeyringFile(1)
	b, _ := GenerateKeyringFile(1)
	if string(a) == string(b) {
		t.Error("two generated files are identical: secret is not random")
	}
}

func TestLoadKeyringNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte("current: 1\nkeys: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKeyring(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no keys") {
		t.Errorf("err = %v, want one naming %s and the problem", err, path)
	}
}
