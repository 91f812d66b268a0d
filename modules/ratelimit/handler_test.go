package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/identity"
)

// brokenLimiter is a store that cannot answer (the database is down).
type brokenLimiter struct{ Limiter }

func (brokenLimiter) Allow(context.Context, string) (Decision, error) {
	return Decision{}, errors.New("connection refused")
}

func serve(h *Handler, user string) (*httptest.ResponseRecorder, bool) {
	req := httptest.NewRequest(http.MethodPost, "/chat", nil)
	repl := caddyhttp.NewTestReplacer(req)
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	called := false
	_ = h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		called = true
		return nil
	}))
	return w, called
}

// When the store cannot answer, requests are refused with 503 and a JSON
// body, or admitted with fail_open; never a 500 or a panic.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	h := &Handler{Key: "{http.auth.user.id}", limiter: brokenLimiter{}, logger: zap.NewNop()}
	w, called := serve(h, "u")
	if called || w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/json" ||
		w.Header().Get("Retry-After") == "" {
		t.Fatalf("fail closed: %d %v %s", w.Code, w.Header(), w.Body)
	}
	h.FailOpen = true
	if w, called := serve(h, "u"); !called || w.Code != 200 {
		t.Fatalf("fail open: %d called=%v", w.Code, called)
	}
}

// The decision of an admitted request is available to the handlers after it.
func TestDecisionInContext(t *testing.T) {
	t.Parallel()
	l, _ := NewMemoryLimiter(Config{Zone: "ctx", Limits: []Limit{{2, 60e9}}})
	defer l.Close()
	h := &Handler{Key: "{http.auth.user.id}", limiter: l, logger: zap.NewNop()}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	repl := caddyhttp.NewTestReplacer(req)
	repl.Set("http.auth.user.id", "u")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	var got Decision
	var ok bool
	_ = h.ServeHTTP(httptest.NewRecorder(), req, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		got, ok = DecisionFromContext(r.Context())
		return nil
	}))
	if !ok || !got.Allowed || got.Remaining != 1 {
		t.Fatalf("decision = %+v, %v", got, ok)
	}
}

// JSON configs get the same checks as the Caddyfile.
func TestProvisionRejectsBadJSONConfig(t *testing.T) {
	t.Parallel()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	day := []LimitConfig{{20, caddy.Duration(24 * 3600e9)}}
	for name, h := range map[string]*Handler{
		"no key":     {Limits: day},
		"no limits":  {Key: "{http.auth.user.id}"},
		"zero count": {Key: "{x}", Limits: []LimitConfig{{0, caddy.Duration(1e9)}}},
		"no window":  {Key: "{x}", Limits: []LimitConfig{{1, 0}}},
		"store":      {Key: "{x}", Limits: day, Store: "redis"},
	} {
		if err := h.Provision(ctx); err == nil {
			t.Errorf("%s: provisioned", name)
		}
		h.Cleanup()
	}
}

// exempt_roles reads the typed identity the authenticator recorded (roles
// as a list), and falls back to {http.auth.user.role} for Caddy's own
// providers, split by the same parser.
func TestExemptRolesReadTheIdentity(t *testing.T) {
	t.Parallel()
	l, _ := NewMemoryLimiter(Config{Zone: "exempt", Limits: []Limit{{1, 60e9}}})
	defer l.Close()
	h := &Handler{Key: "{http.auth.user.id}", ExemptRoles: []string{"instructor", "admin"}, limiter: l, logger: zap.NewNop()}
	request := func(typed *identity.Identity, placeholderRole string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		repl := caddyhttp.NewTestReplacer(req)
		ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl)
		req = req.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{}))
		if typed != nil {
			identity.Set(req, typed)
			repl.Set("http.auth.user.id", typed.ID)
		} else {
			repl.Set("http.auth.user.id", "placeholder-user")
		}
		if placeholderRole != "" {
			repl.Set("http.auth.user.role", placeholderRole)
		}
		return req
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		exempt bool
	}{
		{"typed list with instructor", request(&identity.Identity{ID: "u1", Roles: []string{"student", "instructor"}}, ""), true},
		{"typed student", request(&identity.Identity{ID: "u2", Roles: []string{"student"}}, ""), false},
		{"placeholder, space-separated", request(nil, "student admin"), true},
		{"placeholder, comma-separated", request(nil, "student,instructor"), true},
		{"no roles", request(&identity.Identity{ID: "u3"}, ""), false},
	} {
		if got, err := h.isExempt(tc.req); err != nil || got != tc.exempt {
			t.Errorf("%s: exempt = %v (%v), want %v", tc.name, got, err, tc.exempt)
		}
	}
}
