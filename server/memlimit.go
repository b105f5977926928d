package server

import (
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of a container's memory limit given to the
// Go runtime as its soft limit (GOMEMLIMIT). The rest is for what the
// runtime does not count: Badger's memory-mapped tables, logs and memtable
// files, and the kernel's socket buffers.
const memoryLimitShare = 0.8

// containerMemoryLimit returns the memory limit, in bytes, of the cgroup
// the process runs in (cgroup v2 memory.max, or v1 memory.limit_in_bytes),
// or 0 when there is none. fsys is the root file system.
//
// Go does not read this limit itself: without a soft limit the heap grows
// to twice what is live before a collection, and under a write load (where
// Badger builds tables in the heap) that can pass a container's limit and
// get the process killed instead of collecting sooner.
func containerMemoryLimit(fsys fs.FS) int64 {
	self, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var candidates []string
	for line := range strings.Lines(string(self)) {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			candidates = append(candidates,
				path.Join("sys/fs/cgroup", parts[2], "memory.max"),
				"sys/fs/cgroup/memory.max")
		case hasController(parts[1], "memory"): // v1
			candidates = append(candidates,
				path.Join("sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	// Inside a container the cgroup's own directory is usually mounted as
	// the root of the hierarchy, so the path from /proc may not exist there.
	for _, name := range candidates {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // v1 says "unlimited" with a huge number
			return 0
		}
		return n
	}
	return 0
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// memoryLimit returns the soft memory limit `parley serve` gives the Go
// runtime: memoryLimitShare of the container's limit, or 0 to leave the
// runtime alone (no container limit, or GOMEMLIMIT set by the operator,
// "off" included).
func memoryLimit(getenv func(string) string, fsys fs.FS) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	return int64(float64(containerMemoryLimit(fsys)) * memoryLimitShare)
}
