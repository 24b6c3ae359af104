package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memoryCgroup makes a cgroup with a memory limit for the test's processes: a child of this
// process's cgroup v1 memory cgroup, or else a child of the cgroup v2 root with the memory
// controller. Either needs root; without both the test fails and says what is missing.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	dir, errV1 := makeCgroup(t, v1MemoryDir(), "memory.limit_in_bytes", limit)
	if errV1 == nil {
		return dir
	}
	dir, errV2 := makeCgroup(t, v2MemoryRoot(), "memory.max", limit)
	if errV2 == nil {
		return dir
	}
	t.Fatalf("no memory cgroup to run sipws in (needs root and a cgroup v1 memory hierarchy or the cgroup v2 memory controller): v1: %v; v2: %v", errV1, errV2)
	return ""
}

func makeCgroup(t *testing.T, parent, limitFile string, limit int64) (string, error) {
	if parent == "" {
		return "", errors.New("not mounted")
	}
	dir := filepath.Join(parent, fmt.Sprintf("sipws-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	t.Cleanup(func() { _ = os.Remove(dir) }) // after every process in it has exited
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// v1MemoryDir is this process's cgroup in the v1 memory hierarchy, "" without one.
func v1MemoryDir() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for l := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimSpace(l), ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			return filepath.Join("/sys/fs/cgroup/memory", parts[2])
		}
	}
	return ""
}

// v2MemoryRoot is where the cgroup v2 hierarchy is mounted, if its root hands the memory
// controller to its children ("" otherwise). The root cgroup may hold processes and still
// have children with controllers, so the test's cgroup goes there.
func v2MemoryRoot() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for l := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 || g[0] != "cgroup2" || f[3] != "/" {
			continue
		}
		ctl, err := os.ReadFile(filepath.Join(f[4], "cgroup.subtree_control"))
		if err == nil && slices.Contains(strings.Fields(string(ctl)), "memory") {
			return f[4]
		}
	}
	return ""
}

// TestSoftMemoryLimitInCgroup runs sipws in a real memory cgroup: the process must find the
// kernel's limit and set Go's soft limit from it. `sipws edge` without --config logs the
// limit and then exits with a usage error, so no ports are needed.
func TestSoftMemoryLimitInCgroup(t *testing.T) {
	dir := memoryCgroup(t, 256<<20)
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
			env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") })
			cmd.Env = append(env, tc.env...)
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
