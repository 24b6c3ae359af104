package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func corev1Name(s string) corev1.ResourceName { return corev1.ResourceName(s) }

func TestParseResources(t *testing.T) {
	tests := []struct {
		in      string
		want    string // requests/limits as String() of the quantities, "" when none
		wantErr string
	}{
		{in: "", want: "requests=map[] limits=map[]"},
		{in: "requests.cpu=100m,requests.memory=128Mi", want: "requests=map[cpu:100m memory:128Mi] limits=map[]"},
		{in: " limits.memory = 1Gi ,requests.cpu=1", want: "requests=map[cpu:1] limits=map[memory:1Gi]"},
		{in: "requests.cpu", wantErr: "not key=value"},
		{in: "requests.gpu=1", wantErr: "cpu or memory"},
		{in: "cpu=1", wantErr: "cpu or memory"},
		{in: "spec.cpu=1", wantErr: "requests. or limits."},
		{in: "limits.memory=lots", wantErr: "limits.memory"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := parseResources(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "requests=map["
			for _, k := range []string{"cpu", "memory"} {
				if q, ok := r.Requests[corev1Name(k)]; ok {
					got += k + ":" + q.String() + " "
				}
			}
			got = strings.TrimSuffix(got, " ") + "] limits=map["
			for _, k := range []string{"cpu", "memory"} {
				if q, ok := r.Limits[corev1Name(k)]; ok {
					got += k + ":" + q.String() + " "
				}
			}
			got = strings.TrimSuffix(got, " ") + "]"
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
