package ratelimit

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// testIdentity stands in for the authentication handler in tests: it sets
// {http.auth.user.id} and {http.auth.user.role} from the X-Test-User and
// X-Test-Role request headers (only when present), as Caddy's own
// authentication providers would; identity.FromRequest builds the typed
// identity from them. It exists only in this package's test binary (and in
// the Caddy child processes that binary runs).
type testIdentity struct{}

func init() {
	caddy.RegisterModule(testIdentity{})
	httpcaddyfile.RegisterHandlerDirective("test_identity", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		return testIdentity{}, nil
	})
	httpcaddyfile.RegisterDirectiveOrder("test_identity", httpcaddyfile.Before, "basic_auth")
}

func (testIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.test_identity", New: func() caddy.Module { return new(testIdentity) }}
}

func (testIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if v := r.Header.Get("X-Test-User"); v != "" {
		repl.Set("http.auth.user.id", v)
	}
	if v := r.Header.Get("X-Test-Role"); v != "" {
		repl.Set("http.auth.user.role", v)
	}
	return next.ServeHTTP(w, r)
}

// setClock makes request_quota handlers read time from now until the test
// ends.
func setClock(t interface{ Cleanup(func()) }, now func() time.Time) {
	clockHook.Store(&now)
	t.Cleanup(func() { clockHook.Store(nil) })
}

var (
	_ caddyhttp.MiddlewareHandler = testIdentity{}
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
