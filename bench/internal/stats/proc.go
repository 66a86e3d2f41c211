package stats

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is one reading of a process's counters.
type Proc struct {
	// CPUTicks is utime+stime in clock ticks (/proc/<pid>/stat).
	CPUTicks uint64
	// RSSBytes is VmRSS (/proc/<pid>/status).
	RSSBytes uint64
	// At is when it was read.
	At time.Time
}

// ReadProc reads the CPU time and resident memory of process pid.
func ReadProc(pid int) (Proc, error) {
	p := Proc{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// The command name (field 2) may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return p, fmt.Errorf("stats: odd /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return p, fmt.Errorf("stats: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return p, fmt.Errorf("stats: bad cpu times in /proc/%d/stat", pid)
	}
	p.CPUTicks = utime + stime
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return p, fmt.Errorf("stats: bad VmRSS %q", v)
			}
			p.RSSBytes = kb << 10
		}
	}
	return p, nil
}

var (
	tickOnce sync.Once
	ticks    = 100
)

// ClockTicks is `getconf CLK_TCK` (100 if it cannot be read).
func ClockTicks() int {
	tickOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			ticks = n
		}
	})
	return ticks
}

// CPUSeconds is the CPU time spent between two readings.
func CPUSeconds(before, after Proc) float64 {
	if after.CPUTicks < before.CPUTicks {
		return 0
	}
	return float64(after.CPUTicks-before.CPUTicks) / float64(ClockTicks())
}
