package oidc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(new(BetterAuthAPI))
	caddy.RegisterModule(new(providerRegistry))
	// Not RegisterHandlerDirective: its first argument is the base path,
	// which Caddy would otherwise take for a path matcher; the handler
	// matches its base path itself.
	httpcaddyfile.RegisterDirective("better_auth_api", parseBetterAuthCaddyfile)
	// Before basic_auth, like oidc_provider (the two answer disjoint
	// paths, so their relative order does not matter): the API answers
	// sign-in requests even in a site that protects the rest.
	httpcaddyfile.RegisterDirectiveOrder("better_auth_api", httpcaddyfile.Before, "basic_auth")
}

// BetterAuthAPI is the handler `better_auth_api`: Better-Auth 1.7's
// `/api/auth` endpoints (email and password, sessions, the jwt plugin's
// token and JWKS, password reset and e-mail verification) served on the
// users and sessions of an oidc_provider of the same config, so front ends
// built on the official `better-auth` client move over unchanged. A session
// made here is a session of the provider's hosted pages, and the reverse:
// both use the provider's sessions table and the same cookie.
type BetterAuthAPI struct {
	// BasePath is where the endpoints live. Caddyfile: the directive's
	// argument, `better_auth_api [<base path>]`. Default `/api/auth`.
	BasePath string `json:"base_path,omitempty"`

	// Provider is the issuer of the oidc_provider whose users and sessions
	// the API serves. Caddyfile: `provider <issuer>`. Default: the only
	// oidc_provider of the config (two or more make it required).
	Provider string `json:"provider,omitempty"`

	// TrustedOrigins are the origins (scheme://host[:port], `*` matches any
	// run of characters) whose pages may call the API with cookies, besides
	// the provider's own origin. Caddyfile: `trusted_origins <origin…>`
	// (repeatable).
	TrustedOrigins []string `json:"trusted_origins,omitempty"`

	// CookieDomain sets the session cookie's Domain, so subdomains share
	// it (Better-Auth's crossSubDomainCookies). Caddyfile:
	// `cookie_domain <domain>`. Default: none (host-only cookie).
	CookieDomain string `json:"cookie_domain,omitempty"`

	// Secret is Better-Auth's secret (BETTER_AUTH_SECRET): session cookies
	// are signed with it (HMAC-SHA256), so cookies issued by the Better-Auth
	// server this replaces keep working. The hosted pages accept cookies
	// signed with it too. Caddyfile: `secret {env.BETTER_AUTH_SECRET}`.
	// Default: a key derived from the intellistack app's secret.
	Secret string `json:"secret,omitempty"`

	// HideExistingUsers answers a sign-up with a taken address like a new
	// one (200, `{token:null, user}` with a made-up user, no cookie)
	// instead of Better-Auth's default 422
	// USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL. Caddyfile:
	// `hide_existing_users`. Default false.
	HideExistingUsers bool `json:"hide_existing_users,omitempty"`

	// ChangeEmail turns on /change-email (Better-Auth's
	// user.changeEmail.enabled): a signed-in user names a new address, the
	// provider mails a verification link to it, and the address changes
	// (verified) when the link is followed; a taken address answers like a
	// free one. Needs the provider's mail. Caddyfile: `change_email`.
	// Default false: 400 CHANGE_EMAIL_DISABLED, as Better-Auth's default.
	ChangeEmail bool `json:"change_email,omitempty"`

	// DeleteUser turns on /delete-user (Better-Auth's
	// user.deleteUser.enabled): a signed-in user deletes their account
	// with everything it owns, after giving the password or within a day
	// of signing in. Caddyfile: `delete_user`. Default false: 404, as
	// Better-Auth's default.
	DeleteUser bool `json:"delete_user,omitempty"`

	reg      *providerRegistry
	p        atomic.Pointer[provider]
	trusted  []string
	secret   []byte
	logger   *zap.Logger
	basePath string
}

// CaddyModule returns the Caddy module information.
func (*BetterAuthAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.better_auth_api", New: func() caddy.Module { return new(BetterAuthAPI) }}
}

// Provision finds the config's provider registry and checks the options;
// the provider itself is looked up on the first request, since it may be
// provisioned after this handler.
func (h *BetterAuthAPI) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	h.basePath = strings.TrimRight(h.BasePath, "/")
	if h.basePath == "" {
		h.basePath = "/api/auth"
	}
	if !strings.HasPrefix(h.basePath, "/") {
		return fmt.Errorf("better_auth_api: the base path %q must start with /", h.BasePath)
	}
	for _, o := range h.TrustedOrigins {
		o = strings.TrimRight(repl.ReplaceAll(o, ""), "/")
		if o == "" || (!strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://")) {
			return fmt.Errorf("better_auth_api: trusted origin %q must start with https:// or http://", o)
		}
		h.trusted = append(h.trusted, strings.ToLower(o))
	}
	if s := repl.ReplaceAll(h.Secret, ""); s != "" {
		// Kept as given even when short: it must equal the old server's
		// secret for its cookies to stay valid.
		if len(s) < 32 {
			ctx.Logger().Warn("better_auth_api: the secret is shorter than 32 characters; use a long random value")
		}
		h.secret = []byte(s)
	}
	reg, err := providersOf(ctx)
	if err != nil {
		return err
	}
	h.reg = reg
	if h.secret != nil {
		reg.addCookieSecret(h.secret)
	}
	return nil
}

// provider is the oidc_provider this API serves, looked up once.
func (h *BetterAuthAPI) provider() (*provider, error) {
	if p := h.p.Load(); p != nil {
		return p, nil
	}
	p, err := h.reg.lookup(h.Provider)
	if err != nil {
		return nil, err
	}
	h.p.Store(p)
	return p, nil
}

// ServeHTTP answers the paths under the base path and passes the rest on.
func (h *BetterAuthAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path, ok := strings.CutPrefix(r.URL.Path, h.basePath)
	if !ok || (path != "" && path[0] != '/') {
		return next.ServeHTTP(w, r)
	}
	p, err := h.provider()
	if err != nil {
		h.logger.Error("better_auth_api has no provider", zap.Error(err))
		baError(w, http.StatusServiceUnavailable, "FAILED_TO_GET_SESSION", "The authentication service is not configured")
		return nil
	}
	api := &baRequest{h: h, p: p, w: w, r: r}
	defer func() {
		if v := recover(); v != nil {
			h.logger.Error("panic in better_auth_api", zap.Any("panic", v), zap.String("path", path))
			baError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal server error")
		}
	}()
	api.serve(path)
	return nil
}

// UnmarshalCaddyfile sets up the API from Caddyfile tokens. Syntax:
//
//	better_auth_api [<base path>] {
//		provider <issuer>             # default: the config's only oidc_provider
//		trusted_origins <origin…>     # repeatable; * wildcards
//		cookie_domain <domain>
//		secret <value>                # use {env.BETTER_AUTH_SECRET}
//		hide_existing_users
//		change_email                  # /change-email (off by default)
//		delete_user                   # /delete-user (off by default)
//	}
func (h *BetterAuthAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		h.BasePath = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "provider":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Provider = d.Val()
		case "trusted_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.TrustedOrigins = append(h.TrustedOrigins, args...)
		case "cookie_domain":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.CookieDomain = d.Val()
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Secret = d.Val()
		case "hide_existing_users":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.HideExistingUsers = true
		case "change_email":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.ChangeEmail = true
		case "delete_user":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.DeleteUser = true
		default:
			return d.Errf("unknown better_auth_api option %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func parseBetterAuthCaddyfile(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	a := new(BetterAuthAPI)
	if err := a.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(nil, a), nil
}

// originTrusted reports whether origin (scheme://host[:port]) may call the
// API with cookies: the provider's origin, the request's own origin, or a
// trusted_origins entry.
func (h *BetterAuthAPI) originTrusted(p *provider, r *http.Request, origin string) bool {
	origin = strings.ToLower(strings.TrimRight(origin, "/"))
	if origin == "" || origin == "null" {
		return false
	}
	if origin == strings.ToLower(p.origin) || origin == strings.ToLower(requestOrigin(r)) {
		return true
	}
	for _, t := range h.trusted {
		if wildcardMatch(t, origin) {
			return true
		}
	}
	return false
}

// requestOrigin is the origin the request was sent to.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// wildcardMatch matches s against pattern, where * stands for any run of
// characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		last := i == len(parts)-2
		if last {
			return strings.HasSuffix(s, part)
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false
		}
		s = s[j+len(part):]
	}
	return true
}

// originOf reduces a Referer to its origin.
func originOf(ref string) string {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// providerRegistryID is the per-config app holding the config's
// oidc_providers, so that better_auth_api finds the one it serves.
const providerRegistryID = "oidc_providers"

// providerRegistry is the app `oidc_providers`. Nobody configures it: the
// first module of a config that asks for it creates it in that config (as
// jwtauth's bearer_jwt_issuers), so a reload never sees the previous
// config's providers.
type providerRegistry struct {
	mu            sync.Mutex
	byIssuer      map[string]*provider
	cookieSecrets [][]byte
}

// CaddyModule returns the Caddy module information.
func (*providerRegistry) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: providerRegistryID, New: func() caddy.Module { return &providerRegistry{byIssuer: map[string]*provider{}} }}
}

// Start implements caddy.App.
func (*providerRegistry) Start() error { return nil }

// Stop implements caddy.App.
func (*providerRegistry) Stop() error { return nil }

// providersOf returns the registry of the config ctx belongs to.
func providersOf(ctx caddy.Context) (*providerRegistry, error) {
	v, err := ctx.AppIfConfigured(providerRegistryID)
	if errors.Is(err, caddy.ErrNotConfigured) {
		v, err = ctx.App(providerRegistryID)
	}
	if err != nil {
		return nil, fmt.Errorf("loading the %s app: %v", providerRegistryID, err)
	}
	reg, ok := v.(*providerRegistry)
	if !ok {
		return nil, fmt.Errorf("%s app has unexpected type %T", providerRegistryID, v)
	}
	return reg, nil
}

func (reg *providerRegistry) register(issuer string, p *provider) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.byIssuer[issuer] = p
}

// lookup returns the provider with this issuer, or with "" the only one.
func (reg *providerRegistry) lookup(issuer string) (*provider, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if issuer != "" {
		if p := reg.byIssuer[strings.TrimRight(issuer, "/")]; p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("no oidc_provider with issuer %q in this config", issuer)
	}
	if len(reg.byIssuer) != 1 {
		return nil, fmt.Errorf("the config has %d oidc_providers: name one with `provider <issuer>`", len(reg.byIssuer))
	}
	for _, p := range reg.byIssuer {
		return p, nil
	}
	return nil, nil
}

func (reg *providerRegistry) addCookieSecret(s []byte) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.cookieSecrets = append(reg.cookieSecrets, s)
}

// secrets are the extra keys session cookies may be signed with.
func (reg *providerRegistry) secrets() [][]byte {
	if reg == nil {
		return nil
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.cookieSecrets
}

// Interface guards
var (
	_ caddy.Provisioner           = (*BetterAuthAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*BetterAuthAPI)(nil)
	_ caddyfile.Unmarshaler       = (*BetterAuthAPI)(nil)
	_ caddy.App                   = (*providerRegistry)(nil)
)
