package natsembed

import "testing"

func TestJetStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		want bool
	}{
		{"off without a directory", "", false},
		{"on with a directory", t.TempDir(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := Start(Options{JetStreamDir: tc.dir})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
			if got := ns.JetStreamEnabled(); got != tc.want {
				t.Fatalf("JetStream enabled %v, want %v", got, tc.want)
			}
		})
	}
}
