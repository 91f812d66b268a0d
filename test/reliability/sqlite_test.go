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

// smallDisk is a tmpfs of a few MiB mounted on a folder of the test: a
// disk that can be filled, on which the node keeps its SQLite database.
type smallDisk struct {
	dir    string
	filler string
}

// mountSmallDisk mounts a tmpfs of size MiB; without the right to mount
// (not root, or a container without CAP_SYS_ADMIN) the test is skipped
// with a message, as the fault cannot be staged.
func mountSmallDisk(t *testing.T, size int) *smallDisk {
	t.Helper()
	testutil.SkipIfShort(t)
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skipf("a full or read-only disk is staged with mount -t tmpfs, which needs root (running as uid %d)", os.Geteuid())
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm,mode=0700", size), "none", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs is not permitted here (%v: %s): the full-disk fault cannot be staged", err, strings.TrimSpace(string(out)))
	}
	// Registered after TempDir's removal, so it runs before it.
	t.Cleanup(func() {
		_ = exec.Command("mount", "-o", "remount,rw", dir).Run()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// The node may still hold the files: detach lazily.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v %s; %v %s", dir, err, out, err2, out2)
			}
		}
	})
	return &smallDisk{dir: dir, filler: filepath.Join(dir, "filler")}
}

// fill writes the filler file until the disk is full (ENOSPC).
func (d *smallDisk) fill() (int64, error) {
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
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (d *smallDisk) free() error { return os.Remove(d.filler) }

// remount makes the disk read-only ("ro") or writable ("rw").
func (d *smallDisk) remount(mode string) error {
	out, err := exec.Command("mount", "-o", "remount,"+mode, d.dir).CombinedOutput()
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("mount -o remount,%s: %v: %s", mode, err, msg)
	}
	return nil
}

// The node's SQLite database on a small disk that fills up under load,
// then is freed; then an attempt to remount it read-only. While the disk
// is full, writes (turns, token refreshes) are refused with a clear 503 or
// end in a retryable error event, never a 500 or a half-written row, and
// reads (thread list, history) keep working; once space is freed, writes
// work again without a restart.
func TestFaultSQLiteDiskFull(t *testing.T) {
	sc := faultScale()
	disk := mountSmallDisk(t, 64)
	db := filepath.Join(disk.dir, "intellistack.db")
	fake, answer := pacedModel(t, sc.Tokens)
	c := testutil.StartCaddyProcess(t, nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: fake.BaseURL(), Quota: sc.Quota}.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	pid := pidOf(t, c)
	proc := watch(pid)
	log := &callLog{}
	var ctxRows [][2]string
	var fullAt, freedAt time.Time
	var filled int64
	var faultErrs []string
	roResult := "not tried"
	start := time.Now()
	wall, later := runOutageDay(students, sc, modelAnswer(answer), log, &ctxRows, func(deadline time.Time) {
		d := time.Until(deadline)
		at := func(f float64) { time.Sleep(time.Until(deadline.Add(-d + time.Duration(f*float64(d))))) }
		at(0.3)
		n, err := disk.fill()
		fullAt, filled = time.Now(), n
		if err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		at(0.6)
		if err := disk.free(); err != nil {
			faultErrs = append(faultErrs, err.Error())
		}
		freedAt = time.Now()
		at(0.8)
		// A file system remounted read-only under a node that has its
		// database open for writing: Linux refuses (EBUSY) as long as a
		// file is open for writing on it.
		if err := disk.remount("ro"); err != nil {
			roResult = "refused: " + err.Error()
		} else {
			roResult = "done (the node had no file open for writing)"
			time.Sleep(d / 10)
			if err := disk.remount("rw"); err != nil {
				faultErrs = append(faultErrs, err.Error())
			}
		}
	})
	procLine := proc.end()
	if len(faultErrs) > 0 {
		t.Fatalf("the fault could not be run: %v", faultErrs)
	}
	if pidOf(t, c) != pid {
		t.Errorf("the Caddy process changed: it was restarted")
	}
	const grace = time.Second
	phases := []phase{
		{name: "healthy before", from: start, to: fullAt, healthy: true},
		{name: "disk full", from: fullAt, to: freedAt.Add(grace), readsOK: true},
		{name: "healthy after space was freed", from: freedAt.Add(grace), to: time.Now(), healthy: true},
	}
	refusedWrites := 0
	for _, cl := range log.calls {
		if cl.class == callClear && !cl.at.Before(fullAt) && cl.at.Before(freedAt) {
			refusedWrites++
		}
	}
	extra := [][2]string{
		{"faults", fmt.Sprintf("tmpfs of 64 MiB filled (%d MiB of filler) for %s; writes refused meanwhile: %d", filled>>20, ms(freedAt.Sub(fullAt)), refusedWrites)},
		{"remount read-only under the running node", roResult},
	}
	outageReport(t, "faults: SQLite disk full (tmpfs)", sc, students, log, wall, phases, []string{procLine}, ctxRows, modelAnswer(answer), extra, later)
}
