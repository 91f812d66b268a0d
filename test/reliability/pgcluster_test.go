package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// pgBin is where the PostgreSQL server binaries live: PG_BIN, else
// Debian's /usr/lib/postgresql/<version>/bin of the newest version
// installed (15 on this machine).
func pgBin() string {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "/usr/lib/postgresql/15/bin", -1
	for _, d := range dirs {
		if v, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil && v > bestVersion {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				best, bestVersion = d, v
			}
		}
	}
	return best
}

// pgCluster is a private PostgreSQL server of one test: its own data folder
// and port, so that the test can stop and restart it without touching the
// machine's shared server, which other tests use at the same time.
type pgCluster struct {
	bin  string // the server binaries' folder
	dir  string // data folder
	log  string // server log
	port int
	cred *syscall.Credential // nil: run as this user
}

// startPgCluster runs initdb (trust auth) in the test's temporary folder and
// starts the server on a free loopback port. initdb and postgres refuse to
// run as root: as root, the cluster belongs to the postgres user. Without
// the binaries the test is skipped (it fails when CI is set).
func startPgCluster(t *testing.T) *pgCluster {
	t.Helper()
	testutil.SkipIfShort(t)
	bin := pgBin()
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		if testutil.InCI() {
			t.Fatalf("PostgreSQL server binaries not found in %s (CI is set, so this fails instead of skipping); set PG_BIN", bin)
		}
		t.Skipf("PostgreSQL server binaries not found in %s: install PostgreSQL's server package or set PG_BIN to run this test", bin)
	}
	base := t.TempDir()
	c := &pgCluster{bin: bin, dir: filepath.Join(base, "data"), log: filepath.Join(base, "server.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to own a private cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must reach its folder: the test's temporary
		// folders are root's, mode 0700.
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	// Loopback TCP only (no Unix socket in the shared /var/run/postgresql);
	// enough connections for two pools of a class and the test's own.
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = ''\nmax_connections = 100\nfsync = off\n", c.port)
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	f.Close()
	if out, err := c.ctl("start", "-l", c.log); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.logTail())
	}
	t.Cleanup(func() { _, _ = c.ctl("stop", "-m", "immediate") })
	return c
}

func (c *pgCluster) run(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ctl runs pg_ctl on the cluster and waits for it to finish (-w).
func (c *pgCluster) ctl(action string, args ...string) (string, error) {
	return c.run("pg_ctl", append([]string{action, "-D", c.dir, "-w", "-t", "60"}, args...)...)
}

func (c *pgCluster) logTail() string {
	b, _ := os.ReadFile(c.log)
	s := string(b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// url is the node's database setting: the cluster's postgres database.
func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&pool_max_conns=20", c.port)
}

// restart is `pg_ctl restart -m fast`: every session is ended (the
// server sends each client FATAL 57P01), the server stops and starts.
func (c *pgCluster) restart() error {
	if out, err := c.ctl("restart", "-m", "fast", "-l", c.log); err != nil {
		return fmt.Errorf("pg_ctl restart: %v\n%s", err, strings.TrimSpace(out))
	}
	return nil
}

func (c *pgCluster) stop() error {
	if out, err := c.ctl("stop", "-m", "fast"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, strings.TrimSpace(out))
	}
	return nil
}

func (c *pgCluster) start() error {
	if out, err := c.ctl("start", "-l", c.log); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, strings.TrimSpace(out))
	}
	return nil
}
