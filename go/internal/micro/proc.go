package micro

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// statusField returns the first number of a "Key:  value" line of text.
func statusField(text []byte, key string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

func selfStatus(key string) (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	v, ok := statusField(b, key)
	if !ok {
		return 0, fmt.Errorf("no %s in /proc/self/status", key)
	}
	return v, nil
}

// rssBytes is VmRSS of this process.
func rssBytes() (uint64, error) {
	kb, err := selfStatus("VmRSS")
	return kb * 1024, err
}

// osThreads is the number of OS threads of this process right now.
func osThreads() (uint64, error) { return selfStatus("Threads") }

func osThreadsOrZero() uint64 { n, _ := osThreads(); return n }
func rssBytesOrZero() uint64  { n, _ := rssBytes(); return n }

// cpusAllowed is the kernel's Cpus_allowed_list ("0-1").
func cpusAllowed() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ctxSwitches returns the voluntary and involuntary context switches of the
// whole process: getrusage(RUSAGE_SELF) sums every thread, including those
// that have exited, which /proc/self/task/*/status would miss.
func ctxSwitches() (uint64, uint64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return uint64(ru.Nvcsw), uint64(ru.Nivcsw)
}

// memAvailableBytes is MemAvailable from /proc/meminfo.
func memAvailableBytes() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	kb, _ := statusField(b, "MemAvailable")
	return kb * 1024
}

func readNumber(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// threadRoom is how many more threads the machine lets this process start:
// the smallest of the kernel's thread and pid limits and the cgroup's
// pids.max, less the threads that exist (4th field of /proc/loadavg);
// RLIMIT_NPROC too when not root.
func threadRoom() uint64 {
	limit := ^uint64(0)
	for _, p := range []string{"/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max", "/sys/fs/cgroup/pids.max"} {
		if v, ok := readNumber(p); ok && v < limit {
			limit = v
		}
	}
	if os.Geteuid() != 0 {
		const rlimitNproc = 6 // RLIMIT_NPROC on Linux
		var rl syscall.Rlimit
		if syscall.Getrlimit(rlimitNproc, &rl) == nil && rl.Cur != ^uint64(0) && rl.Cur < limit {
			limit = rl.Cur
		}
	}
	var existing uint64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 3 {
			if _, total, ok := strings.Cut(f[3], "/"); ok {
				existing, _ = strconv.ParseUint(total, 10, 64)
			}
		}
	}
	if existing >= limit {
		return 0
	}
	return limit - existing
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
