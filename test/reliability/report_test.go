package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// pidOf finds the process of a child-process Caddy: the child of this test
// binary whose Caddyfile (INTELLISTACK_TESTUTIL_CADDYFILE in its
// environment) names the node's admin address.
func pidOf(t *testing.T, c *testutil.Caddy) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if cfg, ok := strings.CutPrefix(kv, "INTELLISTACK_TESTUTIL_CADDYFILE="); ok {
				if b, err := os.ReadFile(cfg); err == nil && strings.Contains(string(b), "admin "+c.AdminAddr+"\n") {
					return pid
				}
			}
		}
	}
	t.Fatalf("no process found for the Caddy on %s", c.AdminAddr)
	return 0
}

// procStats samples a process's CPU time and memory from /proc while a
// scenario runs: peak RSS (VmHWM), CPU seconds, average and peak cores used
// (the latter over 1 s windows).
type procStats struct {
	pid      int
	mu       sync.Mutex
	start    time.Time
	cpu0     float64
	peakCPU  float64 // cores, over 1 s windows
	cpu      float64 // seconds used since start
	peakRSS  int64   // KiB, sampled during the scenario
	lifeRSS  int64   // KiB, VmHWM: includes the class's sign-in (argon2id)
	stop     chan struct{}
	finished chan struct{}
}

func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// memKiB reads a /proc/<pid>/status memory field: VmRSS (now) or VmHWM
// (the peak over the process's life).
func memKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

func watch(pid int) *procStats {
	p := &procStats{pid: pid, start: time.Now(), cpu0: cpuSeconds(pid), stop: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(p.finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := p.cpu0
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			c := cpuSeconds(pid)
			if c < 0 {
				return // the process is gone (killed by the scenario)
			}
			p.mu.Lock()
			p.peakCPU = max(p.peakCPU, c-last)
			p.cpu = c - p.cpu0
			p.peakRSS = max(p.peakRSS, memKiB(pid, "VmRSS"))
			p.mu.Unlock()
			last = c
		}
	}()
	return p
}

// end stops sampling and returns "peak RSS, CPU" for the table.
func (p *procStats) end() string {
	if c := cpuSeconds(p.pid); c >= 0 {
		p.mu.Lock()
		p.cpu = c - p.cpu0
		p.peakRSS = max(p.peakRSS, memKiB(p.pid, "VmRSS"))
		p.lifeRSS = memKiB(p.pid, "VmHWM")
		p.mu.Unlock()
	}
	close(p.stop)
	<-p.finished
	wall := time.Since(p.start).Seconds()
	return fmt.Sprintf("peak RSS %d MiB during the load (%d MiB over the process's life, sign-ins included), CPU %.1f s (avg %.2f cores, peak %.2f over 1 s)",
		p.peakRSS/1024, p.lifeRSS/1024, p.cpu, p.cpu/wall, p.peakCPU)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// table formats rows of (name, value) as an aligned two-column table.
func table(title string, rows [][2]string) string {
	w := 0
	for _, r := range rows {
		w = max(w, len(r[0]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %s\n", title)
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, r[0], r[1])
	}
	return b.String()
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func firstFew(list []string) string {
	if len(list) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (first: %s)", len(list), list[0])
}

// machineBusy reads /proc/stat: busy and total jiffies of all CPUs.
func machineBusy() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// context is what else ran: the machine's CPU use over the scenario (every
// process, other agents' included) and this test process's (the simulated
// students and the fake model), so that figures can be read against it.
type loadContext struct {
	busy0, total0 float64
	self          *procStats
}

func startContext() *loadContext {
	b, t := machineBusy()
	return &loadContext{busy0: b, total0: t, self: watch(os.Getpid())}
}

func (c *loadContext) rows() [][2]string {
	b, t := machineBusy()
	cores := 0
	if s, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cores = strings.Count(string(s), "processor\t:")
	}
	return [][2]string{
		{"machine CPU (all processes)", fmt.Sprintf("%.0f%% busy of %d cores during the scenario", 100*(b-c.busy0)/(t-c.total0), cores)},
		{"test process (students, fake model)", c.self.end()},
	}
}
