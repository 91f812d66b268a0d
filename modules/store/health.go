package store

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Health{})
	// Right after header (so security headers still apply), before any
	// authentication directive and before handle blocks: a load balancer's
	// probe must neither need credentials nor be swallowed by a catch-all.
	// (Anchoring before basic_auth would race bearer_jwt for that slot.)
	httpcaddyfile.RegisterHandlerDirective("intellistack_health", parseHealth)
	httpcaddyfile.RegisterDirectiveOrder("intellistack_health", httpcaddyfile.After, "header")
}

// Health answers load-balancer health checks: 200 with
// {"status":"ok","database":"postgres","schema_version":N,"latency_ms":…}
// when the database answers a query, else 503 with
// {"status":"unavailable","database":…,"error":"…"}. The error never holds
// the connection string.
//
//	intellistack_health [<matcher>] {
//		timeout <duration>
//	}
type Health struct {
	// Timeout bounds the database check. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Health) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.intellistack_health",
		New: func() caddy.Module { return new(Health) },
	}
}

// Provision finds the app.
func (h *Health) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(2 * time.Second)
	}
	app, err := GetApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	return nil
}

type healthReport struct {
	Status    string         `json:"status"`
	Database  Dialect        `json:"database"`
	Schema    map[string]int `json:"schema,omitempty"` // module → highest applied migration
	LatencyMS float64        `json:"latency_ms"`
	Error     string         `json:"error,omitempty"`
}

// ServeHTTP answers the check; it is a responder and never calls next.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
	defer cancel()
	begin := time.Now()
	report := healthReport{Status: "ok", Database: h.app.Dialect()}
	status := http.StatusOK
	version, err := h.check(ctx)
	report.LatencyMS = float64(time.Since(begin).Microseconds()) / 1000
	if err != nil {
		status = http.StatusServiceUnavailable
		report.Status = "unavailable"
		report.Error = "database does not answer"
		if err == ErrNotReady {
			report.Error = "database is not ready"
		}
		h.logger.Warn("health check failed", zap.Error(err))
	} else {
		report.Schema = version
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	return json.NewEncoder(w).Encode(report)
}

func (h *Health) check(ctx context.Context) (map[string]int, error) {
	db, err := h.app.DB(ctx)
	if err != nil {
		return nil, err
	}
	return SchemaVersions(ctx, db)
}

func parseHealth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	hc := new(Health)
	err := hc.UnmarshalCaddyfile(h.Dispenser)
	return hc, err
}

// UnmarshalCaddyfile parses the syntax shown on Health.
func (h *Health) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "timeout":
			var v string
			if !d.Args(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("timeout: %v", err)
			}
			h.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized subdirective: %s", d.Val())
		}
	}
	return nil
}

var (
	_ caddy.Provisioner           = (*Health)(nil)
	_ caddyhttp.MiddlewareHandler = (*Health)(nil)
	_ caddyfile.Unmarshaler       = (*Health)(nil)
)
