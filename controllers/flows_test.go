package controllers

import (
	"strings"
	"testing"
)

func TestSumGauge(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		wantErr  bool
	}{
		{"per listener", "# HELP sipws_edge_flows Open WebSocket flows.\n# TYPE sipws_edge_flows gauge\nsipws_edge_flows{listener=\"ws\"} 3\nsipws_edge_flows{listener=\"wss\"} 4\n", 7, false},
		{"no labels", "sipws_edge_flows 12\n", 12, false},
		{"other metrics with the prefix", "sipws_edge_flows_total 99\nsipws_edge_flows{listener=\"a\"} 1\n", 1, false},
		{"label value with a brace", "sipws_edge_flows{listener=\"a}b\"} 2\n", 2, false},
		{"timestamp", "sipws_edge_flows{listener=\"a\"} 5 1700000000000\n", 5, false},
		{"absent", "go_goroutines 8\n", 0, true},
		{"garbage value", "sipws_edge_flows{listener=\"a\"} many\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sumGauge(strings.NewReader(tt.in), "sipws_edge_flows")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("sumGauge = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
