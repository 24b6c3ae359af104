package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// memoryCgroupV1 makes a child of this process's cgroup v1 memory cgroup with a limit, or
// skips: it needs root and a writable v1 memory hierarchy (a v2-only host would need a
// delegated subtree, which a test cannot arrange).
func memoryCgroupV1(t *testing.T, limit int64) string {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	defer f.Close()
	own := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			own = parts[2]
		}
	}
	base := "/sys/fs/cgroup/memory"
	if own == "" {
		t.Skip("no cgroup v1 memory hierarchy here")
	}
	dir := filepath.Join(base, own, fmt.Sprintf("sipws-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) }) // after every process in it has exited
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		t.Skipf("cannot limit a memory cgroup: %v", err)
	}
	return dir
}

// TestSoftMemoryLimitInCgroup runs sipws in a real memory cgroup: the process must find the
// kernel's limit and set Go's soft limit from it. `sipws edge` without --config logs the
// limit and then exits with a usage error, so no ports are needed.
func TestSoftMemoryLimitInCgroup(t *testing.T) {
	dir := memoryCgroupV1(t, 256<<20)
	tests := []struct {
		name string
		args []string
		env  []string
		want string // "" wants no such line
	}{
		{"default ratio", nil, nil, "limit_mib=230 container_mib=256"},
		{"ratio 0.5", []string{"--memory-limit-ratio", "0.5"}, nil, "limit_mib=128 container_mib=256"},
		{"off", []string{"--memory-limit-ratio", "0"}, nil, ""},
		{"GOMEMLIMIT wins", nil, []string{"GOMEMLIMIT=100MiB"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The shell moves itself into the cgroup, then becomes sipws.
			args := append([]string{"-c", `echo $$ > "$0/cgroup.procs" && shift && exec "$@"`, dir, "--", sipwsBin, "edge"}, tc.args...)
			cmd := exec.Command("sh", args...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), "--config is required") {
				t.Fatalf("sipws did not run to its usage error:\n%s", out)
			}
			line := ""
			for l := range strings.Lines(string(out)) {
				if strings.Contains(l, "soft memory limit") {
					line = l
				}
			}
			switch {
			case tc.want == "" && line != "":
				t.Errorf("logged %q, want no soft limit from the cgroup", line)
			case tc.want != "" && !strings.Contains(line, tc.want):
				t.Errorf("logged %q, want %q\n%s", line, tc.want, out)
			}
		})
	}
}
