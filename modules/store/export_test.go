package store

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Test-only views of the shared handle, so tests can prove that reloads reuse
// it and shutdown closes it.

// HandleID identifies the pooled handle an app holds (its pointer).
func HandleID(a *App) any { return a.handle }

// HandleRefs is how many config generations hold the app's handle.
func HandleRefs(a *App) int {
	n, _ := handles.References(a.key)
	return n
}

// HandleClosed reports whether the pool destroyed the handle.
func HandleClosed(h any) bool {
	hh := h.(*handle)
	hh.mu.Lock()
	defer hh.mu.Unlock()
	return hh.closed
}

// ActiveApp returns the running config's app.
func ActiveApp() (*App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("intellistack")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

var ParseTarget = parseTarget
var RebindFor = rebind
var RedactURL = redactURL

func (t target) Dialect() Dialect { return t.dialect }
func (t target) DSN() string      { return t.dsn }

// DatabaseSetting is the expanded database setting of an app.
func DatabaseSetting(a *App) string { return a.target.dsn }

// PoolCollector is the pool collector over the given databases only.
func PoolCollector(dbs ...*DB) prometheus.Collector {
	return poolCollector{dbs: func() []*DB { return dbs }}
}
