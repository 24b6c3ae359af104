package gctune

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	mibytes = 1 << 20
	// Lines of /proc/self/mountinfo as a container and a hybrid host show them.
	mountV2     = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
	mountV2Sub  = "30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
	mountHybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n" +
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	procRoot = "23 1 0:21 / / rw,relatime shared:1 - overlay overlay rw\n"
)

func cgroupFS(cgroup, mountinfo string, files map[string]string) fstest.MapFS {
	m := fstest.MapFS{
		"proc/self/cgroup":    {Data: []byte(cgroup)},
		"proc/self/mountinfo": {Data: []byte(procRoot + mountinfo)},
	}
	for name, data := range files {
		m[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func TestCgroupMemoryLimit(t *testing.T) {
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		want      uint64
		wantFile  string
		wantError bool
	}{
		{
			name: "v2 in a cgroup namespace (a Kubernetes container)",
			fsys: cgroupFS("0::/\n", mountV2, map[string]string{
				"/sys/fs/cgroup/memory.max": "268435456\n",
			}),
			want: 256 * mibytes, wantFile: "/sys/fs/cgroup/memory.max",
		},
		{
			name: "v2 without a namespace: the parent's limit is the smaller",
			fsys: cgroupFS("0::/kubepods.slice/pod1/ctr\n", mountV2, map[string]string{
				"/sys/fs/cgroup/kubepods.slice/pod1/ctr/memory.max": "max\n",
				"/sys/fs/cgroup/kubepods.slice/pod1/memory.max":     "536870912\n",
				"/sys/fs/cgroup/kubepods.slice/memory.max":          "1073741824\n",
			}),
			want: 512 * mibytes, wantFile: "/sys/fs/cgroup/kubepods.slice/pod1/memory.max",
		},
		{
			name: "v2 with a subtree mounted",
			fsys: cgroupFS("0::/kubepods/pod1/ctr\n", mountV2Sub, map[string]string{
				"/sys/fs/cgroup/ctr/memory.max": "134217728",
			}),
			want: 128 * mibytes, wantFile: "/sys/fs/cgroup/ctr/memory.max",
		},
		{
			name: "hybrid host: no memory controller in v2, the v1 limit counts",
			fsys: cgroupFS("4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n", mountHybrid, map[string]string{
				"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "314572800\n",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes":                 "9223372036854771712\n",
			}),
			want: 300 * mibytes, wantFile: "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
		},
		{
			name: "v1 without a limit",
			fsys: cgroupFS("4:memory:/\n0::/\n", mountHybrid, map[string]string{
				"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			}),
		},
		{
			name: "v2 max everywhere",
			fsys: cgroupFS("0::/a\n", mountV2, map[string]string{
				"/sys/fs/cgroup/a/memory.max": "max\n",
			}),
		},
		{
			name: "mount point with an escaped space",
			fsys: cgroupFS("0::/\n", "30 23 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n", map[string]string{
				"/sys/fs/my cgroup/memory.max": "1048576",
			}),
			want: mibytes, wantFile: "/sys/fs/my cgroup/memory.max",
		},
		{
			name: "no cgroup mounted",
			fsys: cgroupFS("0::/\n", "", nil),
		},
		{
			name: "garbage in memory.max",
			fsys: cgroupFS("0::/\n", mountV2, map[string]string{
				"/sys/fs/cgroup/memory.max": "lots\n",
			}),
			wantError: true,
		},
		{
			name:      "no /proc",
			fsys:      fstest.MapFS{},
			wantError: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, file, err := CgroupMemoryLimit(tc.fsys)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v, want error: %v", err, tc.wantError)
			}
			if got != tc.want || file != tc.wantFile {
				t.Errorf("limit = %d from %q, want %d from %q", got, file, tc.want, tc.wantFile)
			}
		})
	}
}

func TestLimitMemory(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	limited := cgroupFS("0::/\n", mountV2, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"})

	t.Run("ratio of the cgroup limit", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		got, err := limitMemory(limited, "", 0.9)
		if err != nil {
			t.Fatal(err)
		}
		ratio := 0.9
		want := int64(float64(1<<30) * ratio)
		if got.Cgroup != 1<<30 || got.Soft != want || got.Source != "/sys/fs/cgroup/memory.max" {
			t.Errorf("got %+v, want cgroup 1 GiB, soft %d", got, want)
		}
		if rt := debug.SetMemoryLimit(-1); rt != want {
			t.Errorf("runtime's limit = %d, want %d", rt, want)
		}
	})
	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		debug.SetMemoryLimit(123 * mibytes)
		got, err := limitMemory(limited, "123MiB", 0.9)
		if err != nil {
			t.Fatal(err)
		}
		if got.Source != "GOMEMLIMIT" || got.Soft != 123*mibytes || got.Cgroup != 0 {
			t.Errorf("got %+v, want the environment's limit untouched", got)
		}
	})
	t.Run("ratio 0 is off", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		got, err := limitMemory(limited, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Soft != math.MaxInt64 || got.Source != "" {
			t.Errorf("got %+v, want no limit", got)
		}
	})
	t.Run("no cgroup limit", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		got, err := limitMemory(cgroupFS("0::/\n", mountV2, nil), "", 0.9)
		if err != nil || got.Soft != math.MaxInt64 || got.Cgroup != 0 {
			t.Errorf("got %+v, %v; want no limit", got, err)
		}
	})
	for _, r := range []float64{-0.1, 1.5, math.NaN(), math.Inf(1)} {
		for _, env := range []string{"", "1GiB"} {
			if _, err := limitMemory(limited, env, r); !errors.Is(err, ErrRatio) {
				t.Errorf("ratio %v, GOMEMLIMIT %q: error %v, want ErrRatio", r, env, err)
			}
		}
	}
}

// TestCgroupMemoryLimitHere reads this machine's real files: whatever it finds must parse.
func TestCgroupMemoryLimitHere(t *testing.T) {
	if _, _, err := CgroupMemoryLimit(os.DirFS("/")); err != nil {
		t.Fatal(err)
	}
}

// FuzzCgroupMemoryLimit feeds arbitrary /proc/self/cgroup, mountinfo and limit files: the
// answer is an error, no limit, or a limit read from a file that exists.
func FuzzCgroupMemoryLimit(f *testing.F) {
	f.Add("0::/\n", mountV2, "268435456\n")
	f.Add("0::/kubepods/pod1/ctr\n", mountV2Sub, "max")
	f.Add("4:memory:/process_api/abc\n0::/\n", mountHybrid, "314572800\n")
	f.Add("0::/\n", "30 23 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n", "1")
	f.Fuzz(func(t *testing.T, cgroup, mountinfo, limit string) {
		fsys := cgroupFS(cgroup, mountinfo, map[string]string{
			"/sys/fs/cgroup/memory.max":                                   limit,
			"/sys/fs/cgroup/ctr/memory.max":                               limit,
			"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": limit,
			"/sys/fs/my cgroup/memory.max":                                limit,
		})
		got, file, err := CgroupMemoryLimit(fsys)
		switch {
		case err != nil:
			if got != 0 || file != "" {
				t.Fatalf("error %v with limit %d from %q", err, got, file)
			}
		case got == 0:
			if file != "" {
				t.Fatalf("no limit but a file %q", file)
			}
		default:
			if got >= v1Unlimited {
				t.Fatalf("limit %d counts as unlimited", got)
			}
			if _, ok := fsys[strings.TrimPrefix(file, "/")]; !ok {
				t.Fatalf("limit %d from %q, which does not exist", got, file)
			}
		}
	})
}
