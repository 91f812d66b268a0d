package store

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intellistack/intellistack/internal/metrics"
)

// poolStats is what the pool collector reports of one database.
type poolStats struct {
	inUse, idle, max int64
	waitSeconds      float64
}

// stats reads the pool's figures now. On PostgreSQL the pgx pool is the
// pool: database/sql runs on top of it (stdlib.OpenDBFromPool) and keeps no
// idle connections of its own, so the pgx figures count every connection
// once. The wait is the time acquirers spent on an empty pool
// (EmptyAcquireWaitTime), not the time of every acquire.
func (db *DB) stats() poolStats {
	if db.pool != nil {
		s := db.pool.Stat()
		return poolStats{
			inUse: int64(s.AcquiredConns()), idle: int64(s.IdleConns()), max: int64(s.MaxConns()),
			waitSeconds: s.EmptyAcquireWaitTime().Seconds(),
		}
	}
	s := db.sql.Stats()
	return poolStats{
		inUse: int64(s.InUse), idle: int64(s.Idle), max: int64(s.MaxOpenConnections),
		waitSeconds: s.WaitDuration.Seconds(),
	}
}

// openDBs are the databases the app's handles have open in this process:
// added once a handle is open and migrated, removed when it closes. A
// database opened with Open (commands, tests) is not among them.
var openDBs = struct {
	sync.Mutex
	set map[*DB]struct{}
}{set: map[*DB]struct{}{}}

func trackOpen(db *DB) {
	openDBs.Lock()
	openDBs.set[db] = struct{}{}
	openDBs.Unlock()
}

func untrack(db *DB) {
	openDBs.Lock()
	delete(openDBs.set, db)
	openDBs.Unlock()
}

var (
	poolConnsDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "db", "pool_connections"),
		"Connections of the shared database pool by state: in_use (held by a query or transaction) or idle.",
		[]string{"dialect", "state"}, nil)
	poolMaxDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "db", "pool_max_connections"),
		"The most connections the shared database pool opens.",
		[]string{"dialect"}, nil)
	poolWaitDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "db", "pool_wait_seconds_total"),
		"Time spent waiting for a connection of the shared database pool because every connection was in use.",
		[]string{"dialect"}, nil)
)

// poolCollector reads the live pools at scrape time, so a scrape costs a
// few atomic loads per pool and a request nothing. Series are per dialect,
// never per DSN: a process normally has one database; several of one
// dialect (tests, a reload to another database while the old one drains)
// are summed.
type poolCollector struct {
	dbs func() []*DB
}

// dbPool is the one collector of the process, registered into every
// config's registry by the app.
var dbPool prometheus.Collector = poolCollector{dbs: liveDBs}

// liveDBs lists the databases open now.
func liveDBs() []*DB {
	openDBs.Lock()
	defer openDBs.Unlock()
	out := make([]*DB, 0, len(openDBs.set))
	for db := range openDBs.set {
		out = append(out, db)
	}
	return out
}

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolMaxDesc
	ch <- poolWaitDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	sums := map[Dialect]poolStats{}
	for _, db := range c.dbs() {
		s, t := sums[db.dialect], db.stats()
		s.inUse += t.inUse
		s.idle += t.idle
		s.max += t.max
		s.waitSeconds += t.waitSeconds
		sums[db.dialect] = s
	}
	for d, s := range sums {
		dialect := string(d)
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.inUse), dialect, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.idle), dialect, "idle")
		ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(s.max), dialect)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, s.waitSeconds, dialect)
	}
}
