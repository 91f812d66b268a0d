// Package oidc is the `oidc_provider` handler: an OpenID Provider (OAuth 2.0
// authorization server with OpenID Connect) inside any Caddy site, with
// e-mail/password accounts, server-side sessions and hosted sign-in, sign-up
// and consent pages. Its data lives in the intellistack app's database, so
// every node of a cluster shares users, sessions, codes, tokens and signing
// keys.
package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/jwtauth"
	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/ratelimit"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// timeNow is the provider's clock; tests in this package replace it.
var timeNow = time.Now

// Handler is the `oidc_provider` HTTP handler. It answers its own paths below
// the issuer (discovery, /jwks, /oauth2/*) and passes every other request to
// the next handler.
//
// Endpoints: /.well-known/openid-configuration, /.well-known/jwks.json and
// /jwks, /oauth2/authorize, /oauth2/token, /oauth2/userinfo, /oauth2/revoke,
// /oauth2/introspect, /oauth2/end-session, and the hosted pages
// /oauth2/sign-in, /oauth2/sign-up, /oauth2/consent, /oauth2/sign-out; with
// a mail block also /oauth2/verify-email, /oauth2/check-inbox,
// /oauth2/forgot-password, /oauth2/reset-password and
// /oauth2/change-password.
type Handler struct {
	// Issuer is the provider's identifier, an https URL (http only for
	// localhost/loopback development) without query or fragment; a trailing
	// slash is removed. Endpoints live below it. Placeholders are expanded
	// at load.
	//
	//	issuer https://learn.example.com
	Issuer string `json:"issuer,omitempty"`

	// Clients are the registered relying parties.
	//
	//	client <id> { … }
	Clients []*Client `json:"clients,omitempty"`

	// AccessTokenTTL is the life of a JWT access token. Default: 6h.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`

	// RefreshTokenTTL is the life of a refresh token; each rotation starts a
	// new one. Every code exchange returns a refresh token (opaque, rotated
	// on each use; presenting a rotated one revokes the whole family).
	// Default: 168h (7 days).
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// IDTokenTTL is the life of an ID token. Default: 1h.
	IDTokenTTL caddy.Duration `json:"id_token_ttl,omitempty"`

	// CodeTTL is the life of an authorization code. Default: 60s.
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`

	// SessionTTL is the life of a sign-in session. Default: 168h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// SigningAlg is the JWS algorithm of every token: RS256 (RSA 2048),
	// ES256 or EdDSA (Ed25519). Default: RS256, which OIDC requires every
	// relying party to support.
	//
	//	signing_alg RS256|ES256|EdDSA
	SigningAlg string `json:"signing_alg,omitempty"`

	// KeyRotation is how long one signing key signs before its successor
	// takes over. The successor is published KeyPublishAhead earlier; the
	// old key stays published until the tokens it signed have expired.
	// Default: 720h (30 days).
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`

	// KeyPublishAhead is how long a new key is in the JWKS before it signs;
	// it must exceed the JWKS cache time (15 min). Default: 24h, or half of
	// KeyRotation when that is shorter.
	KeyPublishAhead caddy.Duration `json:"key_publish_ahead,omitempty"`

	// Audience is the aud of access tokens. Default: the issuer.
	//
	//	audience <aud…>
	Audience []string `json:"audience,omitempty"`

	// Templates is a directory of page templates that override the embedded
	// ones (see the templates folder of this module for names and data).
	//
	//	templates <dir>
	Templates string `json:"templates,omitempty"`

	// Branding gives the hosted pages the product's name, logo and colour
	// (see BrandingConfig). Default: no name, no logo, a neutral blue.
	//
	//	branding { name <text>; logo <url>; color "<#hex>" }
	Branding *BrandingConfig `json:"branding,omitempty"`

	// Lockout locks an account's password sign-in after this many failures
	// in the window, until the oldest failure leaves it; a successful
	// sign-in clears the count. Counts are shared by every node. 0 means
	// the default, -1 turns it off. Default: 5 per 30m.
	//
	//	lockout <failures> <window> | off
	LockoutFailures int            `json:"lockout_failures,omitempty"`
	LockoutWindow   caddy.Duration `json:"lockout_window,omitempty"`

	// IPLimit caps sign-in and sign-up form posts per client IP (Caddy's
	// client IP, honouring trusted_proxies). 0 means the default, -1 turns it
	// off. Default: 30 per 15m.
	//
	//	ip_limit <n> per <window> | off
	IPLimit       int            `json:"ip_limit,omitempty"`
	IPLimitWindow caddy.Duration `json:"ip_limit_window,omitempty"`

	// Claims names the per-user custom claims (users.claims, set with the
	// admin API or `intellistack user set-claim`) that the provider copies
	// into every access token, and into ID tokens with the profile scope. A
	// user without one of them gets no such claim. Names the provider sets
	// itself (sub, role, email…) are refused. Default: none.
	//
	//	claims <name…>
	Claims []string `json:"claims,omitempty"`

	// Mail configures the provider's e-mails (see MailConfig): address
	// verification, password reset and the notice to the owner of an
	// address someone tried to sign up with. Default: no mail, hence no
	// verification and no reset.
	//
	//	mail { from …; smtp <host:port> { … } | outbox <dir>; templates <dir> }
	Mail *MailConfig `json:"mail,omitempty"`

	// RequireVerifiedEmail stops users whose address is not verified at the
	// authorization endpoint with a "check your inbox" page (with a button
	// that sends the link again). Needs Mail. Default: off (tokens then
	// carry email_verified false until the link is followed).
	//
	//	require_verified_email
	RequireVerifiedEmail bool `json:"require_verified_email,omitempty"`

	// Upstreams are the identity providers users may sign in with besides
	// a password, one "Continue with …" button each on the sign-in and
	// sign-up pages, in this order (see Upstream). Repeatable. Default:
	// none.
	//
	//	upstream google|github|<name> { client_id …; client_secret …; issuer …; scopes …; label … }
	Upstreams []*Upstream `json:"upstreams,omitempty"`

	p      *provider
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oidc_provider",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves placeholders (issuer, client secrets), applies defaults
// and builds the provider; it does no I/O (keys are loaded on first use).
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	app, err := store.GetApp(ctx)
	if err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	issuer := strings.TrimRight(repl.ReplaceKnown(h.Issuer, ""), "/")
	u, err := checkIssuer(issuer)
	if err != nil {
		return err
	}
	clients := map[string]*Client{}
	for _, c := range h.Clients {
		rc := *c
		if c.Secret != "" {
			rc.Secret = repl.ReplaceKnown(c.Secret, "")
			if rc.Secret == "" {
				return fmt.Errorf("client %s: secret %q expanded to an empty value", c.ID, c.Secret)
			}
			rc.secretHash = sha256Sum(rc.Secret)
		}
		if err := validateClient(&rc); err != nil {
			return err
		}
		rc.Secret = "" // only the hash is kept (RFC 6819 §5.1.4.1.3)
		if clients[rc.ID] != nil {
			return fmt.Errorf("client %s is declared twice", rc.ID)
		}
		clients[rc.ID] = &rc
	}
	alg := jwa.SignatureAlgorithm(h.SigningAlg)
	switch alg {
	case "":
		alg = jwa.RS256
	case jwa.RS256, jwa.ES256, jwa.EdDSA:
	default:
		return fmt.Errorf("signing_alg %q: use RS256, ES256 or EdDSA", h.SigningAlg)
	}
	def := func(d caddy.Duration, v time.Duration) time.Duration {
		if d > 0 {
			return time.Duration(d)
		}
		return v
	}
	rotation := def(h.KeyRotation, 720*time.Hour)
	lead := def(h.KeyPublishAhead, min(24*time.Hour, rotation/2))
	if lead >= rotation {
		return fmt.Errorf("key_publish_ahead (%s) must be shorter than key_rotation (%s)", lead, rotation)
	}
	if lead < jwksCacheTime {
		// Allowed (tests and short-lived setups whose relying parties refresh
		// faster), but relying parties on their defaults will refuse each new
		// key's tokens until their cache refreshes: bearer_jwt refused them
		// for 11 s and more in the two-node reliability scenario.
		h.logger.Warn("key_publish_ahead is shorter than the JWKS cache time of relying parties: tokens signed by each new key may be refused until their caches refresh (bearer_jwt refreshes every 5 minutes by default)",
			zap.Duration("key_publish_ahead", lead), zap.Duration("jwks_cache_time", jwksCacheTime))
	}
	audience := h.Audience
	if len(audience) == 0 {
		audience = []string{issuer}
	}
	pg, err := loadPages(h.Templates)
	if err != nil {
		return err
	}
	if pg.brand, err = newBrand(h.Branding); err != nil {
		return err
	}
	p := &provider{
		issuer: issuer, base: strings.TrimRight(u.Path, "/"), origin: u.Scheme + "://" + u.Host,
		clients: clients, audience: audience,
		accessTTL:   def(h.AccessTokenTTL, 6*time.Hour),
		refreshTTL:  def(h.RefreshTokenTTL, 168*time.Hour),
		idTTL:       def(h.IDTokenTTL, time.Hour),
		codeTTL:     def(h.CodeTTL, time.Minute),
		sessionTTL:  def(h.SessionTTL, 168*time.Hour),
		requestTTL:  30 * time.Minute,
		openStorage: storageOn(app.DB),
		derive:      app.DeriveKey,
		now:         func() time.Time { return timeNow() },
		clientIP:    caddyClientIP,
		logger:      h.logger,
		pages:       pg,
		hashParams:  password.DefaultParams,
		hashSlots:   newHashSlots(),
		secure:      u.Scheme == "https",
		revocations: newRevocationSet(),
	}
	retain := max(p.accessTTL, p.idTTL) + time.Hour
	p.keys = newKeyring(keyringConfig{
		alg: alg, rotation: rotation, lead: lead, retain: retain,
		storage: func(ctx context.Context) (storage.Keys, error) { return p.storage(ctx) },
		sealKey: func() ([]byte, error) { return p.key("oidc.signing-keys") },
		now:     p.now,
		logger:  h.logger,
	})
	lockout := ratelimit.Limit{Count: defaultLockoutFailures, Window: defaultLockoutWindow}
	if h.LockoutFailures != 0 {
		lockout = ratelimit.Limit{Count: max(h.LockoutFailures, 0), Window: def(h.LockoutWindow, defaultLockoutWindow)}
	}
	perIP := ratelimit.Limit{Count: defaultIPAttempts, Window: defaultIPWindow}
	if h.IPLimit != 0 {
		perIP = ratelimit.Limit{Count: max(h.IPLimit, 0), Window: def(h.IPLimitWindow, defaultIPWindow)}
	}
	if p.brute, err = newBruteForce(app, p.now, lockout, perIP, h.logger); err != nil {
		return err
	}
	if h.Mail != nil {
		if p.mail, err = provisionMail(ctx, h.Mail, app, h.logger, p.now); err != nil {
			return err
		}
	} else if h.RequireVerifiedEmail {
		return fmt.Errorf("require_verified_email needs a mail block to send the links")
	}
	p.requireVerified = h.RequireVerifiedEmail
	for _, name := range h.Claims {
		if err := checkClaimName(name); err != nil {
			return fmt.Errorf("claims: %v", err)
		}
	}
	p.claims = h.Claims
	if p.upstreams, err = provisionUpstreams(repl, h.Upstreams); err != nil {
		return err
	}
	h.p = p
	// better_auth_api of this config finds the provider here.
	if p.registry, err = providersOf(ctx); err != nil {
		return err
	}
	p.registry.register(issuer, p)
	// bearer_jwt in this same Caddy, configured with this issuer, reads the
	// keys directly instead of fetching our JWKS over HTTPS (which, with
	// `tls internal`, the process may not trust).
	clientIDs := make([]string, 0, len(clients))
	for id := range clients {
		clientIDs = append(clientIDs, id)
	}
	if err := jwtauth.RegisterLocalIssuer(ctx, issuer, bearer.LocalIssuer{
		JWKS: func(ctx context.Context) ([]byte, error) {
			_, jwks, err := p.keys.published(ctx)
			return jwks, err
		},
		ClientIDs: clientIDs,
		Revoked:   p.revocations.revoked,
	}); err != nil {
		return err
	}
	go p.sweep(ctx)
	go p.watchRevocations(ctx)
	return nil
}

// Cleanup has nothing to release: the in-process issuer registration ends
// with the config, and the sweeper and revocation poller with the module's
// context.
func (h *Handler) Cleanup() error { return nil }

// storageOn is the provider's storage on the app's database, which the app
// opens when it starts (after Provision).
func storageOn(db func(context.Context) (*store.DB, error)) func(context.Context) (storage.Storage, error) {
	return func(ctx context.Context) (storage.Storage, error) {
		handle, err := db(ctx)
		if err != nil {
			return nil, err
		}
		return storage.New(handle), nil
	}
}

// checkIssuer requires an absolute https URL without query or fragment
// (OpenID Connect Discovery §2, RFC 8414 §2); http is accepted only for
// localhost and loopback development.
func checkIssuer(issuer string) (*url.URL, error) {
	if issuer == "" {
		return nil, fmt.Errorf("issuer is required (issuer https://your.site)")
	}
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.Contains(issuer, "#") || u.User != nil {
		return nil, fmt.Errorf("issuer %q must be an absolute URL without query, fragment or user info", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (u.Hostname() == "localhost" || isLoopback(u.Hostname())):
	default:
		return nil, fmt.Errorf("issuer %q must use https", issuer)
	}
	return u, nil
}

// caddyClientIP is Caddy's client IP, which honours trusted_proxies.
func caddyClientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

// Validate has nothing left to check: Provision refused bad configs.
func (h *Handler) Validate() error { return nil }

// ServeHTTP answers the provider's paths and passes the rest on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.p.serve(w, r) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
