// Command ratelimit measures what a request_quota check adds to a request:
// the same Caddy route without a quota, with the memory store and with the
// database store on PostgreSQL, interleaved request by request in one run so
// that machine noise hits all three alike; and, below HTTP, one
// Limiter.Allow against one bare PostgreSQL round trip (SELECT 1).
//
// Run: go run ./bench/ratelimit [-n 5000] [-users 500]
// DATABASE_URL picks the PostgreSQL server (default: the test server); the
// benchmark works in a schema of its own and drops it at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/intellistack/intellistack/modules/ratelimit"
	"github.com/intellistack/intellistack/modules/store"
)

func main() {
	n := flag.Int("n", 5000, "measured requests per route")
	users := flag.Int("users", 500, "distinct keys (each is hit n/users times, staying under its limit of 20)")
	flag.Parse()

	base := benchkit.PostgresURL()
	pgURL, drop := benchkit.FreshSchema(base, "bench_ratelimit", nil)
	defer drop()

	port := benchkit.FreePort()
	dir, _ := os.MkdirTemp("", "ratelimit-bench-")
	defer os.RemoveAll(dir)
	cf := benchkit.GlobalOptions(port, dir, pgURL) + fmt.Sprintf(`
http://localhost:%d {
	route /base {
		respond "ok"
	}
	route /memory {
		request_quota {
			key {http.request.header.X-User}
			limit 20 per 24h
			store memory
			zone bench_memory
		}
		respond "ok"
	}
	route /postgres {
		request_quota {
			key {http.request.header.X-User}
			limit 20 per 24h
			store database
			zone bench_database
		}
		respond "ok"
	}
}
`, port)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(cfg, true))
	defer caddy.Stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	routes := []string{"base", "memory", "postgres"}
	lat := map[string][]time.Duration{}
	get := func(route, user string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/%s", port, route), nil)
		req.Header.Set("X-User", user)
		start := time.Now()
		resp, err := client.Do(req)
		benchkit.Must(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 {
			panic(fmt.Sprintf("%s: status %d (raise -users)", route, resp.StatusCode))
		}
		return d
	}
	// Warm up connections, the database pool and its prepared statements.
	for i := 0; i < 200; i++ {
		for _, r := range routes {
			get(r, fmt.Sprintf("warm-%d", i))
		}
	}
	for i := 0; i < *n; i++ {
		user := fmt.Sprintf("user-%d", i%*users)
		// Rotate which route goes first, so none always follows another.
		for j := range routes {
			r := routes[(i+j)%len(routes)]
			lat[r] = append(lat[r], get(r, user))
		}
	}

	fmt.Printf("request_quota added latency, %d requests per route, %d keys, limit 20 per 24h, Caddy over loopback HTTP/1.1\n\n", *n, *users)
	fmt.Printf("%-10s %10s %10s %10s %10s %12s %12s\n", "route", "p50", "p99", "p50 added", "p99 added", "p50 ratio", "p99 ratio")
	b50, b99 := benchkit.Percentile(lat["base"], 50), benchkit.Percentile(lat["base"], 99)
	for _, r := range routes {
		p50, p99 := benchkit.Percentile(lat[r], 50), benchkit.Percentile(lat[r], 99)
		fmt.Printf("%-10s %10s %10s %10s %10s %11.2fx %11.2fx\n", r, us(p50), us(p99), us(p50-b50), us(p99-b99),
			float64(p50)/float64(b50), float64(p99)/float64(b99))
	}

	// Below HTTP: one Allow on PostgreSQL against one bare round trip.
	ctx := context.Background()
	db, err := store.Open(ctx, pgURL, dir)
	benchkit.Must(err)
	defer db.Close()
	lim, err := ratelimit.NewDatabaseLimiter(ratelimit.StaticDB{Handle: db}, ratelimit.Config{
		Zone: "bench_direct", Limits: []ratelimit.Limit{{Count: 20, Window: 24 * time.Hour}},
	})
	benchkit.Must(err)
	mem, err := ratelimit.NewMemoryLimiter(ratelimit.Config{
		Zone: "bench_direct", Limits: []ratelimit.Limit{{Count: 20, Window: 24 * time.Hour}},
	})
	benchkit.Must(err)
	defer mem.Close()
	// A one-row insert committed like the limiter's (no wait for the WAL
	// flush): the floor of any check that records something.
	_, err = db.Exec(ctx, "CREATE TABLE bench_insert (k TEXT, at BIGINT)")
	benchkit.Must(err)
	var rt, ins, allow, memAllow []time.Duration
	for i := 0; i < *n+200; i++ {
		user := fmt.Sprintf("user-%d", i%*users)
		start := time.Now()
		var one int
		benchkit.Must(db.Pool().QueryRow(ctx, "SELECT 1").Scan(&one))
		d1 := time.Since(start)
		start = time.Now()
		benchkit.Must(db.Pool().QueryRow(ctx, "INSERT INTO bench_insert VALUES ($1, $2) RETURNING set_config('synchronous_commit', 'off', true)", user, i).Scan(nil))
		d4 := time.Since(start)
		start = time.Now()
		dec, err := lim.Allow(ctx, user)
		benchkit.Must(err)
		d2 := time.Since(start)
		start = time.Now()
		_, _ = mem.Allow(ctx, user)
		d3 := time.Since(start)
		if !dec.Allowed {
			panic("direct: refused (raise -users)")
		}
		if i >= 200 {
			rt, ins, allow, memAllow = append(rt, d1), append(ins, d4), append(allow, d2), append(memAllow, d3)
		}
	}
	fmt.Printf("\nLimiter.Allow without HTTP, %d calls\n\n", *n)
	fmt.Printf("%-28s %10s %10s %12s %12s\n", "", "p50", "p99", "p50 / RTT", "p99 / RTT")
	r50, r99 := benchkit.Percentile(rt, 50), benchkit.Percentile(rt, 99)
	for _, row := range []struct {
		name string
		v    []time.Duration
	}{{"PostgreSQL SELECT 1 (RTT)", rt}, {"PostgreSQL one-row INSERT", ins}, {"DatabaseLimiter.Allow (PG)", allow}, {"MemoryLimiter.Allow", memAllow}} {
		p50, p99 := benchkit.Percentile(row.v, 50), benchkit.Percentile(row.v, 99)
		fmt.Printf("%-28s %10s %10s %11.2fx %11.2fx\n", row.name, us(p50), us(p99), float64(p50)/float64(r50), float64(p99)/float64(r99))
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }
