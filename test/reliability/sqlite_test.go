package reliability

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// dataDisk is a small file system of the test's own, holding the node's
// SQLite database: ext4 on a loop device mounted with errors=remount-ro
// when the machine allows (the kernel then remounts it read-only under
// every open file on the first error, as when a disk fails), else a tmpfs,
// which can be filled but not made read-only under open files.
type dataDisk struct {
	dir    string
	filler string
	dev    string // the loop device; "" on tmpfs
	kind   string // what it is, for the table
	noExt4 string // why it is not ext4
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mountDataDisk mounts a disk of size MiB in the test's folder, unmounted
// when the test ends (after the node, which is stopped first). Without the
// right to mount (not root, or a container without CAP_SYS_ADMIN) the test
// is skipped with a message: the faults cannot be staged.
func mountDataDisk(t *testing.T, size int) *dataDisk {
	t.Helper()
	testutil.SkipIfShort(t)
	if os.Geteuid() != 0 {
		t.Skipf("a full or read-only disk is staged with mount, which needs root (running as uid %d)", os.Geteuid())
	}
	base := t.TempDir()
	d := &dataDisk{dir: filepath.Join(base, "disk")}
	d.filler = filepath.Join(d.dir, "filler")
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(base, "disk.img")
	if f, err := os.Create(img); err == nil {
		_ = f.Truncate(int64(size) << 20)
		f.Close()
	}
	if out, err := run("mkfs.ext4", "-q", "-F", img); err != nil {
		d.noExt4 = fmt.Sprintf("mkfs.ext4: %v %s", err, out)
	} else if dev, err := run("losetup", "-f", "--show", img); err != nil {
		d.noExt4 = fmt.Sprintf("losetup: %v %s", err, dev)
	} else if out, err := run("mount", "-o", "errors=remount-ro", dev, d.dir); err != nil {
		_, _ = run("losetup", "-d", dev)
		d.noExt4 = fmt.Sprintf("mount %s: %v %s", dev, err, out)
	} else {
		d.dev, d.kind = dev, fmt.Sprintf("ext4 of %d MiB on %s, errors=remount-ro", size, dev)
	}
	if d.dev == "" {
		if out, err := run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm,mode=0700", size), "none", d.dir); err != nil {
			t.Skipf("neither ext4 on a loop device (%s) nor tmpfs (%v %s) can be mounted here: the disk faults cannot be staged", d.noExt4, err, out)
		}
		d.kind = fmt.Sprintf("tmpfs of %d MiB", size)
	}
	t.Cleanup(func() {
		if out, err := run("umount", d.dir); err != nil {
			if out2, err2 := run("umount", "-l", d.dir); err2 != nil {
				t.Errorf("umount %s: %v %s; %v %s", d.dir, err, out, err2, out2)
			}
		}
		if d.dev != "" {
			_, _ = run("losetup", "-d", d.dev)
		}
	})
	return d
}

// fill writes the filler file until the disk is full (ENOSPC).
func (d *dataDisk) fill() (int64, error) {
	f, err := os.OpenFile(d.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n, f.Sync()
		}
		if err != nil {
			return n, err
		}
	}
}

func (d *dataDisk) free() error { return os.Remove(d.filler) }

// readOnly makes the disk read-only under the running node: on ext4 an
// error staged through trigger_fs_error (the kernel's emergency remount);
// on tmpfs `mount -o remount,ro`, which Linux refuses (EBUSY) while a file
// is open for writing on it, as the node's database is.
func (d *dataDisk) readOnly() error {
	if d.dev == "" {
		out, err := run("mount", "-o", "remount,ro", d.dir)
		if err != nil {
			msg, _, _ := strings.Cut(out, "\n")
			return fmt.Errorf("mount -o remount,ro on tmpfs: %v: %s (and ext4 on a loop device could not be set up: %s)", err, msg, d.noExt4)
		}
		return nil
	}
	err := os.WriteFile("/sys/fs/ext4/"+filepath.Base(d.dev)+"/trigger_fs_error", []byte("reliability test: the disk fails\n"), 0)
	if err != nil {
		return err
	}
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] == d.dir && (strings.HasPrefix(f[3], "ro") || strings.Contains(f[3], "emergency_ro")) {
			return nil
		}
	}
	return fmt.Errorf("%s is not read-only after the staged error", d.dir)
}

// The node's SQLite database on a small disk under load: filled up, then
// freed, then made read-only by the kernel (an ext4 error with
// errors=remount-ro, as a failing disk gets). While the disk is full or
// read-only, writes (turns, token refreshes) are refused with a clear 503
// or end in a retryable error event, never a 500 or a half-written row,
// and reads (thread list, history) keep working; once space is freed,
// writes work again on the same process. A file system the kernel made
// read-only cannot be made writable again without unmounting it, which the
// open database prevents: there, recovery is a restart of the node on a
// repaired disk, which this test does not do (the turns left without an
// answer stay retryable).
func TestFaultSQLiteDisk(t *testing.T) {
	sc := faultScale()
	size := 64 // MiB: the short day's database and WAL take a few
	if os.Getenv("RELIABILITY") == "full" {
		size = 512 // 500 students' sign-ins and 10,000 turns
	}
	disk := mountDataDisk(t, size)
	db := filepath.Join(disk.dir, "intellistack.db")
	fake, answer := pacedModel(t, sc.Tokens)
	c := testutil.StartCaddyProcess(t, nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: fake.BaseURL(), Quota: sc.Quota}.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	pid := pidOf(t, c)
	proc := watch(pid)
	log := &callLog{}
	var ctxRows [][2]string
	// fillFrom and roFrom are when each fault starts to bite (the filler
	// takes a while to write; a turn ending meanwhile may meet a full disk),
	// fullAt and roAt when it is complete.
	var fillFrom, fullAt, freedAt, roFrom, roAt time.Time
	var filled int64
	var faultErrs []string
	var roErr error
	start := time.Now()
	wall, later := runOutageDay(students, sc, modelAnswer(answer), log, &ctxRows, disk.dev != "", func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.25)
		fillFrom = time.Now()
		n, err := disk.fill()
		fullAt, filled = time.Now(), n
		if err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		at(0.5)
		if err := disk.free(); err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		freedAt = time.Now()
		at(0.75)
		roFrom = time.Now()
		roErr = disk.readOnly()
		roAt = time.Now()
	})
	procLine := proc.end()
	if len(faultErrs) > 0 {
		t.Fatalf("the fault could not be run: %v", faultErrs)
	}
	if pidOf(t, c) != pid {
		t.Errorf("the Caddy process changed: it was restarted")
	}
	end := time.Now()
	const grace = time.Second
	phases := []phase{
		{name: "healthy before", from: start, to: fillFrom, healthy: true},
		{name: "disk full", from: fillFrom, to: freedAt.Add(grace), readsOK: true},
	}
	if roErr == nil {
		phases = append(phases,
			phase{name: "healthy after space was freed", from: freedAt.Add(grace), to: roFrom, healthy: true},
			phase{name: "read-only (kernel)", from: roFrom, to: end, readsOK: true})
	} else {
		phases = append(phases, phase{name: "healthy after space was freed", from: freedAt.Add(grace), to: end, healthy: true})
	}
	refused := func(from, to time.Time) int {
		n := 0
		for _, cl := range log.calls {
			if cl.class == callClear && !cl.at.Before(from) && cl.at.Before(to) {
				n++
			}
		}
		return n
	}
	unanswered := 0
	for _, st := range students {
		unanswered += len(st.unanswered)
	}
	roLine := ""
	if roErr != nil {
		roLine = "not staged: " + roErr.Error()
	} else {
		roLine = fmt.Sprintf("from %s into the load; writes refused since: %d; user messages stored whose answer could not be: %d (retryable once the disk is writable: after a restart)",
			ms(roAt.Sub(start)), refused(roAt, end), unanswered)
	}
	// A node that cannot write still says it is healthy: its health check
	// reads (see the README).
	health := "unreachable"
	if resp, err := s.client(true, nil).Get(s.URL + "/healthz"); err == nil {
		health = resp.Status
		resp.Body.Close()
	}
	extra := [][2]string{
		{"disk", disk.kind},
		{"disk full", fmt.Sprintf("%d MiB of filler for %s; writes refused meanwhile: %d", filled>>20, ms(freedAt.Sub(fullAt)), refused(fullAt, freedAt))},
		{"read-only", roLine},
		{"health check at the end", health},
	}
	if refused(fullAt, freedAt) == 0 {
		t.Error("the full disk refused no write: the fault was not met")
	}
	if roErr == nil && refused(roAt, end) == 0 {
		t.Error("the read-only disk refused no write: the fault was not met")
	}
	outageReport(t, "faults: SQLite disk full, then read-only", sc, students, log, wall, phases, []string{procLine}, ctxRows, modelAnswer(answer), extra, later)
}
