package server

import (
	"testing"
	"testing/fstest"
)

func TestContainerMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := []struct {
		name string
		fsys fstest.MapFS
		want int64
	}{
		{"v2 limit at the root", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("1073741824\n"),
		}, 1 << 30},
		{"v2 no limit", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0},
		{"v2 nested cgroup", fstest.MapFS{
			"proc/self/cgroup": file("0::/system.slice/parley.service\n"),
			"sys/fs/cgroup/system.slice/parley.service/memory.max": file("536870912\n"),
			"sys/fs/cgroup/memory.max":                             file("max\n"),
		}, 512 << 20},
		{"v1 path not mounted inside the container", fstest.MapFS{
			"proc/self/cgroup":                           file("9:name=systemd:/\n4:memory:/docker/0123abcd\n1:cpu,cpuacct:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456\n"),
		}, 256 << 20},
		{"v1 controller among others", fstest.MapFS{
			"proc/self/cgroup": file("4:cpuacct,memory:/job\n"),
			"sys/fs/cgroup/memory/job/memory.limit_in_bytes": file("2147483648\n"),
		}, 2 << 30},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0},
		{"garbage in the limit file", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, 0},
		{"no cgroups at all", fstest.MapFS{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := containerMemoryLimit(c.fsys); got != c.want {
				t.Errorf("containerMemoryLimit = %d, want %d", got, c.want)
			}
		})
	}
}

func TestMemoryLimit_OperatorWins(t *testing.T) {
	fsys := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("1073741824\n")},
	}
	none := func(string) string { return "" }
	if got, want := memoryLimit(none, fsys), int64(858993459); got != want {
		t.Errorf("memoryLimit under a 1 GiB container = %d, want %d", got, want)
	}
	set := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "off"
		}
		return ""
	}
	if got := memoryLimit(set, fsys); got != 0 {
		t.Errorf("memoryLimit with GOMEMLIMIT set = %d, want 0 (the operator's setting stands)", got)
	}
}
