// Package benchkit holds what every load script under bench/ needs: a fresh
// PostgreSQL schema, a free loopback port, percentiles.
package benchkit

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
)

// PostgresURL is DATABASE_URL, or the local test server.
func PostgresURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// FreshSchema creates an empty schema named prefix_<random> and returns a URL
// whose search_path selects it (plus any extra connection parameters), and a
// function that drops it.
func FreshSchema(base, prefix string, params map[string]string) (string, func()) {
	admin, err := sql.Open("pgx", base)
	Must(err)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + "_" + hex.EncodeToString(b)
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	Must(err)
	u, err := url.Parse(base)
	Must(err)
	q := u.Query()
	q.Set("search_path", schema)
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	Must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Percentile returns the p-th percentile (0–100) of d, without reordering d.
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

// Must stops a load script on a set-up error.
func Must(err error) {
	if err != nil {
		panic(err)
	}
}

// GlobalOptions is the global options block of a load script's Caddy: no
// admin endpoint, plain HTTP on port, loopback only, storage in dataDir,
// errors-only logging, and the intellistack app on database.
func GlobalOptions(port int, dataDir, database string) string {
	return fmt.Sprintf(`{
	admin off
	http_port %d
	default_bind 127.0.0.1
	persist_config off
	storage file_system %q
	log {
		level ERROR
	}
	intellistack {
		database %q
		secret bench-secret-0123456789abcdef
	}
}
`, port, dataDir, database)
}

// CPUTime is this process's user and system CPU time (getrusage).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
