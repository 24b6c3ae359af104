package gctune

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// v1Unlimited: cgroup v1 reports "no limit" as the largest page-aligned int64, not "max".
const v1Unlimited = 1 << 62

// ErrRatio is LimitMemory's error for a ratio outside 0..1.
var ErrRatio = errors.New("memory limit ratio: want 0 (off) to 1")

// MemoryLimit is what LimitMemory decided.
type MemoryLimit struct {
	Cgroup uint64 // the cgroup's memory limit in bytes, 0: none found
	Soft   int64  // the Go runtime's soft memory limit now in force, math.MaxInt64: none
	Source string // "GOMEMLIMIT", the cgroup file the limit came from, or "" (none)
}

// LimitMemory sets the Go runtime's soft memory limit to ratio × the memory limit of the
// process's cgroup (a container's limits.memory), so that near the limit the GC works harder
// instead of the kernel killing the process and with it every connection it holds. Go does
// not do this by itself (it sizes GOMAXPROCS from the CPU limit, not GOMEMLIMIT from the
// memory limit). GOMEMLIMIT in the environment wins; ratio 0 turns it off. The rest of the
// limit is left for what the Go heap does not count: kernel socket buffers are charged to
// the cgroup too.
func LimitMemory(ratio float64) (MemoryLimit, error) {
	return limitMemory(os.DirFS("/"), os.Getenv("GOMEMLIMIT"), ratio)
}

func limitMemory(root fs.FS, env string, ratio float64) (MemoryLimit, error) {
	if !(ratio >= 0 && ratio <= 1) { // NaN too
		return MemoryLimit{}, fmt.Errorf("%w, not %v", ErrRatio, ratio)
	}
	if env != "" {
		return MemoryLimit{Soft: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT"}, nil
	}
	if ratio == 0 {
		return MemoryLimit{Soft: debug.SetMemoryLimit(-1)}, nil
	}
	limit, file, err := CgroupMemoryLimit(root)
	if err != nil || limit == 0 {
		return MemoryLimit{Soft: debug.SetMemoryLimit(-1)}, err
	}
	soft := int64(min(float64(limit)*ratio, math.MaxInt64))
	debug.SetMemoryLimit(soft)
	return MemoryLimit{Cgroup: limit, Soft: soft, Source: file}, nil
}

// CgroupMemoryLimit returns the smallest memory limit on the path from the process's cgroup
// up to the root of the hierarchy it can see (cgroup v2 memory.max, else v1
// memory.limit_in_bytes), and the file it came from; 0 when there is none. root is the file
// system root (os.DirFS("/")); paths come from /proc/self/cgroup and /proc/self/mountinfo,
// so cgroup namespaces and unusual mount points are followed.
func CgroupMemoryLimit(root fs.FS) (uint64, string, error) {
	groups, err := readCgroups(root)
	if err != nil {
		return 0, "", err
	}
	mounts, err := readCgroupMounts(root)
	if err != nil {
		return 0, "", err
	}
	// v2 first: on hybrid hosts the unified hierarchy often has no memory controller, and
	// then no memory.max, so v1 answers.
	for _, v := range []struct {
		version int
		file    string
	}{{2, "memory.max"}, {1, "memory.limit_in_bytes"}} {
		g, ok := groups[v.version]
		if !ok {
			continue
		}
		for _, m := range mounts {
			if m.version != v.version {
				continue
			}
			dir, ok := m.dirOf(g)
			if !ok {
				continue
			}
			limit, file, err := smallestLimit(root, m.point, dir, v.file)
			if err != nil {
				return 0, "", err
			}
			if file != "" {
				return limit, file, nil
			}
		}
	}
	return 0, "", nil
}

// smallestLimit walks from dir up to the mount point and returns the smallest limit found.
func smallestLimit(root fs.FS, point, dir, name string) (uint64, string, error) {
	var best uint64
	var bestFile string
	for {
		file := path.Join(dir, name)
		b, err := fs.ReadFile(root, strings.TrimPrefix(file, "/"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, "", fmt.Errorf("read %s: %w", file, err)
		default:
			v := strings.TrimSpace(string(b))
			if v != "max" {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, "", fmt.Errorf("%s: %q is not a byte count: %w", file, v, err)
				}
				// 0 is no usable limit: the kernel would not have started us under it.
				if n > 0 && n < v1Unlimited && (best == 0 || n < best) {
					best, bestFile = n, file
				}
			}
		}
		if dir == point || !strings.HasPrefix(dir, point+"/") {
			return best, bestFile, nil
		}
		dir = path.Dir(dir)
	}
}

// readCgroups maps the hierarchy version to the process's cgroup path: 2 for the unified
// hierarchy ("0::/path"), 1 for the v1 hierarchy with the memory controller.
func readCgroups(root fs.FS) (map[int]string, error) {
	b, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	out := map[int]string{}
	for line := range strings.Lines(string(b)) {
		id, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		ctrls, p, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		switch {
		case id == "0" && ctrls == "":
			out[2] = p
		case namesMemory(ctrls):
			out[1] = p
		}
	}
	return out, nil
}

// namesMemory reports whether a comma-separated list (controllers, super options) names the
// memory controller.
func namesMemory(list string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == "memory" {
			return true
		}
	}
	return false
}

type cgroupMount struct {
	version     int
	root, point string // the mounted subtree of the hierarchy, and where it is mounted
}

// dirOf is the directory of cgroup path p under this mount, if the mount shows it.
func (m cgroupMount) dirOf(p string) (string, bool) {
	if m.root == "/" {
		return path.Join(m.point, p), true
	}
	if p == m.root || strings.HasPrefix(p, m.root+"/") {
		return path.Join(m.point, strings.TrimPrefix(p, m.root)), true
	}
	return "", false
}

// readCgroupMounts lists the cgroup2 mounts and the v1 mounts of the memory controller.
func readCgroupMounts(root fs.FS) ([]cgroupMount, error) {
	f, err := root.Open("proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// ID parent major:minor root mount-point options [optional...] - fstype source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		m := cgroupMount{root: unescapeMount(a[3]), point: unescapeMount(a[4])}
		if !strings.HasPrefix(m.root, "/") || !strings.HasPrefix(m.point, "/") {
			continue
		}
		switch {
		case b[0] == "cgroup2":
			m.version = 2
		case b[0] == "cgroup" && namesMemory(b[2]):
			m.version = 1
		default:
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
