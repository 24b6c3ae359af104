package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Load reads, defaults and validates the configuration file at path. Errors name the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseFile(path, data)
}

// parseFile is Parse with the file name in the error; the watcher uses it so the bytes it
// hashed are exactly the bytes it parses.
func parseFile(path string, data []byte) (*Config, error) {
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML or JSON configuration strictly (unknown fields and duplicate YAML keys
// are errors), fills defaults and validates it.
func Parse(data []byte) (*Config, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func decode(data []byte) (*Config, error) {
	var c Config
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	// Valid JSON (one value, nothing after it) is decoded directly: YAML 1.1 rejects tab
	// indentation, which JSON allows.
	if json.Valid(trimmed) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("decode JSON: %w", err)
		}
		return &c, nil
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	return &c, nil
}
