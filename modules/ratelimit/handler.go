package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intellistack/intellistack/identity"
	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the request_quota middleware: it counts requests per key in an
// exact sliding window and refuses those over the limit with 429 and a JSON
// body. Requests it admits, and requests it refuses, carry RateLimit-Limit,
// RateLimit-Remaining, RateLimit-Reset and RateLimit-Policy headers; refused
// ones also Retry-After.
//
// The body of a refusal is
//
//	{"error":{"code":"rate_limited","message":"…","limit":20,"window":"24h","retry_after":3600,"retry_at":"2026-11-26T10:00:00Z"}}
//
// A request whose key does not resolve (a placeholder in it is unknown or
// empty, for example {http.auth.user.id} on an unauthenticated request) is
// refused with 400 and code "quota_key_missing": counting it in a bucket
// shared by every such request would let one anonymous client starve the
// others. Put the authentication handler before this one.
//
// Exempt requests (exempt_roles, exempt matchers) pass without a check and
// without headers.
//
// Errors: the refusals above (429 rate_limited, 400 quota_key_missing, 503
// quota_unavailable) are written directly as the platform's JSON error
// (internal/apierror) and the handler returns nil, so clients get JSON with
// or without handle_errors, and handle_errors does not see them. Errors
// that are not refusals go to Caddy's handle_errors: a request without a
// replacer (500) and an error of an exempt matcher; a client that hung up
// during the check gets nothing.
//
// Order: at site level the directive runs after basic_auth and forward_auth
// (and after authentication plugins ordered next to them), before
// request_header, encode, handle, route and the responders. Inside `route`
// it runs where it is written, which is how the ChatKit endpoint puts it
// after bearer_jwt.
//
// Time: each node uses its own clock (keep nodes NTP-synced); the database
// store needs nothing else from them.
//
// Placeholders set for later handlers and logs:
//
//	{http.quota.limit}      the binding limit's count
//	{http.quota.remaining}  requests left in the binding limit's window
//	{http.quota.reset}      seconds until Remaining next goes up
//
// (none is set for an exempt request).
type Handler struct {
	// Key is what requests are counted by: any placeholder or combination,
	// such as {http.auth.user.id} or {http.request.remote.host}. Every
	// placeholder in it must resolve to a non-empty value.
	//
	//	key <template>
	Key string `json:"key,omitempty"`

	// Limits all apply: a request is admitted only when each admits it.
	//
	//	limit <n> per <duration>
	Limits []LimitConfig `json:"limits,omitempty"`

	// ExemptRoles lists roles that are never limited: a request is exempt
	// when its user holds any of them (whatever other roles they hold). The
	// roles are the typed identity's (identity.FromRequest), as bearer_jwt
	// records it; with Caddy's own authentication providers they are read
	// from {http.auth.user.role} with the same role parser (one role, or
	// several separated by commas or spaces).
	//
	//	exempt_roles <role…>
	ExemptRoles []string `json:"exempt_roles,omitempty"`

	// ExemptRaw is a matcher set: requests it matches are never limited.
	//
	//	exempt {
	//		<matchers…>
	//	}
	ExemptRaw caddy.ModuleMap `json:"exempt,omitempty" caddy:"namespace=http.matchers"`

	// Store is where events are kept: "database" (the default: the shared
	// intellistack database, correct across nodes on PostgreSQL) or "memory"
	// (this process only; kept across config reloads).
	//
	//	store memory|database
	Store string `json:"store,omitempty"`

	// Zone names the counters. Handlers with the same zone and store share
	// them. By default the zone is derived from the key template: handlers
	// with the same key and the same settings count together (as one site
	// served on several addresses must), and a config in which two handlers
	// with the same key but different settings would share is refused.
	//
	//	zone <name>
	Zone string `json:"zone,omitempty"`

	// FailOpen admits requests when the store cannot answer (the database is
	// down). By default they are refused with 503 and code
	// "quota_unavailable".
	//
	//	fail_open
	FailOpen bool `json:"fail_open,omitempty"`

	limiter Limiter
	release func()
	exempt  caddyhttp.MatcherSet
	zone    string
	policy  string
	counts  zoneCounters
	logger  *zap.Logger
}

// LimitConfig is one limit in JSON: {"count": 20, "window": "24h"}.
type LimitConfig struct {
	// Count is how many requests the window admits.
	Count int `json:"count"`
	// Window is the length of the sliding window.
	Window caddy.Duration `json:"window"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.request_quota",
		New: func() caddy.Module { return new(Handler) },
	}
}

// checkTimeout bounds one quota check, so a stalled database answers the
// request with 503 instead of holding it.
const checkTimeout = 10 * time.Second

// databaseSweepEvery is how often a database-backed handler deletes expired
// events of keys that are never seen again.
const databaseSweepEvery = 5 * time.Minute

// Provision builds the limiter; it does no I/O.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if strings.TrimSpace(h.Key) == "" {
		return errors.New("key is required, for example key {http.auth.user.id}")
	}
	if len(h.Limits) == 0 {
		return errors.New("at least one limit is required, for example limit 20 per 24h")
	}
	limits := make([]Limit, 0, len(h.Limits))
	for _, l := range h.Limits {
		limits = append(limits, Limit{Count: l.Count, Window: time.Duration(l.Window)})
	}
	// Deterministic: shortest window first, whatever the config order.
	sort.SliceStable(limits, func(i, j int) bool { return limits[i].Window < limits[j].Window })
	h.policy = policyHeader(limits)
	// Before loading the matchers: loading clears ExemptRaw.
	fingerprint := h.fingerprint(limits)

	if h.ExemptRaw != nil {
		mods, err := ctx.LoadModule(h, "ExemptRaw")
		if err != nil {
			return fmt.Errorf("loading exempt matchers: %v", err)
		}
		for _, m := range mods.(map[string]any) {
			h.exempt = append(h.exempt, m)
		}
	}

	storeKind := h.Store
	if storeKind == "" {
		storeKind = "database"
	}
	if storeKind != "memory" && storeKind != "database" {
		return fmt.Errorf("store: %q is not one of memory, database", h.Store)
	}
	h.zone = h.Zone
	if h.zone == "" {
		h.zone = derivedZone(h.Key)
	}
	cfg := Config{Zone: h.zone, Limits: limits, Now: handlerNow}
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := claimZone(ctx.Context, storeKind, h.zone, h.Zone != "", spanOf(limits).window, fingerprint); err != nil {
		return err
	}
	if err := metrics.Register(ctx, decisions); err != nil {
		return err
	}
	h.counts = countersFor(h.zone)

	switch storeKind {
	case "memory":
		l, release, err := AcquireMemoryLimiter(cfg)
		if err != nil {
			return err
		}
		h.limiter, h.release = l, release
	case "database":
		app, err := store.GetApp(ctx)
		if err != nil {
			return err
		}
		l, err := NewDatabaseLimiter(app, cfg)
		if err != nil {
			return err
		}
		h.limiter = l
		go l.SweepEvery(ctx, databaseSweepEvery, func(err error) {
			h.logger.Warn("sweeping expired quota events", zap.String("zone", h.zone), zap.Error(err))
		})
	}
	return nil
}

// Validate is a no-op: Provision has checked everything it builds on.
func (h *Handler) Validate() error { return nil }

// Cleanup drops this generation's reference to a memory store; the store
// lives on while a newer generation holds it. It tolerates a partial
// Provision.
func (h *Handler) Cleanup() error {
	if h.release != nil {
		h.release()
	}
	return nil
}

// ServeHTTP applies the quota.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("request_quota: no replacer"))
	}
	exempt, err := h.isExempt(r)
	if err != nil {
		return err
	}
	if exempt {
		return next.ServeHTTP(w, r)
	}

	key, err := repl.ReplaceOrErr(h.Key, true, true)
	if err != nil || key == "" {
		if c := h.logger.Check(zapcore.DebugLevel, "quota key did not resolve"); c != nil {
			c.Write(zap.String("zone", h.zone), zap.String("key_template", h.Key))
		}
		count(h.counts.keyMissing)
		return writeError(w, r, apierror.New(http.StatusBadRequest, "quota_key_missing",
			fmt.Sprintf("This endpoint counts requests per %s, which this request does not carry.", h.Key)))
	}

	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	d, err := h.limiter.Allow(ctx, key)
	cancel()
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err() // the client went away; nothing to answer
		}
		h.logger.Error("quota check failed", zap.String("zone", h.zone), zap.Bool("fail_open", h.FailOpen), zap.Error(err))
		count(h.counts.unavailable)
		if h.FailOpen {
			return next.ServeHTTP(w, r)
		}
		w.Header().Set("Retry-After", "5")
		return writeError(w, r, apierror.New(http.StatusServiceUnavailable, "quota_unavailable",
			"The request quota cannot be checked right now; try again shortly."))
	}

	setQuotaHeaders(w.Header(), d, h.policy)
	repl.Set("http.quota.limit", d.Limit.Count)
	repl.Set("http.quota.remaining", d.Remaining)
	repl.Set("http.quota.reset", seconds(d.Reset))
	if !d.Allowed {
		count(h.counts.refuse)
		if c := h.logger.Check(zapcore.DebugLevel, "request over quota"); c != nil {
			c.Write(zap.String("zone", h.zone), zap.Stringer("limit", d.Limit), zap.Duration("retry_after", d.RetryAfter))
		}
		return writeRefusal(w, r, d)
	}
	count(h.counts.admit)
	return next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), decisionKey{}, d)))
}

// fingerprint identifies the settings that make two handlers the same quota.
func (h *Handler) fingerprint(limits []Limit) string {
	roles := append([]string(nil), h.ExemptRoles...)
	sort.Strings(roles)
	b, _ := json.Marshal([]any{limits, roles, h.ExemptRaw, h.FailOpen})
	return string(b)
}

// isExempt reports whether the request is never limited: its user holds
// an exempt role, or it matches the exempt matchers.
func (h *Handler) isExempt(r *http.Request) (bool, error) {
	if len(h.ExemptRoles) > 0 {
		if id, ok := identity.FromRequest(r); ok && id.HasRole(h.ExemptRoles...) {
			return true, nil
		}
	}
	if len(h.exempt) > 0 {
		return h.exempt.MatchWithError(r)
	}
	return false, nil
}

type decisionKey struct{}

// DecisionFromContext returns the decision request_quota took for an admitted
// request, for handlers after it (false when no quota applied).
func DecisionFromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(Decision)
	return d, ok
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
