// Package jwtauth is bearer_jwt: Caddy authentication by OAuth 2.0 bearer
// JWTs (RFC 6750, RFC 9068) checked against a JWKS, for routes whose
// backends must only see signed-in users and must know who they are.
//
// # Errors
//
// Refusals (401 invalid token, 403 role or verified email missing, 503 no
// signing keys yet) are written directly by bearer_jwt_errors, as the
// platform's JSON error ({"error":{"code","message","reason"}}, through
// internal/apierror): Caddy's authentication handler can only fail with an
// empty 401, so handle_errors never sees these. Everything else goes
// through Caddy's handle_errors untouched: errors of the handlers after
// bearer_jwt, a provider's technical failure, and every refusal when the
// provider is used in JSON without bearer_jwt_errors (then Caddy's own
// empty 401, still with the WWW-Authenticate challenge).
//
// # Revocation
//
// For the in-process oidc_provider (same config, no jwks_url), every
// request, cached verdicts included, is checked against the provider's
// revocation list (bearer.LocalIssuer.Revoked, an in-memory lookup): a
// revoked token is refused (401, reason revoked) at once on the revoking
// node and within about 2 s on the others. A remote issuer's token is
// accepted until its exp, however it was revoked: keep that issuer's
// access-token life short, or set introspect (RFC 7662, answers cached)
// to ask the issuer.
package jwtauth

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"

	"go.uber.org/zap/zapcore"

	"github.com/intellistack/intellistack/identity"
	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Defaults.
const (
	defaultLeeway          = 30 * time.Second
	defaultRefresh         = 5 * time.Minute
	defaultMinRefresh      = 30 * time.Second
	defaultTokenCacheSize  = 10000
	maxLeeway              = 5 * time.Minute
	defaultHeaderID        = "X-User-Id"
	defaultHeaderEmail     = "X-User-Email"
	defaultHeaderRole      = "X-User-Role"
	defaultHeaderVerified  = "X-User-Email-Verified"
	refusalVar             = "bearer_jwt_refusal"
	standardMetadataFields = "email role email_verified scope client_id"
)

// jwksPool shares JWKS caches between providers and across config reloads.
var jwksPool = caddy.NewUsagePool()

// Provider authenticates requests carrying `Authorization: Bearer <JWT>`.
// It is the `bearer_jwt` provider of Caddy's `authentication` handler; the
// `bearer_jwt` Caddyfile directive sets both up together with
// `bearer_jwt_errors`, which turns refusals into JSON answers.
//
// A token is accepted when it is a compact JWS of type at+jwt (RFC 9068
// §2.1) signed with an allowed algorithm by a key of the issuer's JWKS, is
// within exp/nbf/iat (with leeway), names the configured issuer and
// audience (and no client of the in-process provider), and has sub and exp.
// A valid token without a required role or verified email is refused with
// 403. Keys are fetched lazily on the first request, refreshed periodically
// and when a token names an unknown kid, and shared across reloads.
//
// Every request first loses any client-sent identity headers (X-User-Id,
// X-User-Email, X-User-Role, X-User-Email-Verified and the configured
// names), so a client can never speak for itself to a backend; with
// header_up they are then set from the token.
//
// On success it records the typed identity (package identity: id, email,
// verified, roles as a list, the configured custom claims), which
// request_quota, chatkit and the tutor read, and sets these placeholders
// for Caddyfile users:
//
//	{http.auth.user.id}              the sub claim
//	{http.auth.user.email}           email
//	{http.auth.user.email_verified}  true or false
//	{http.auth.user.role}            the roles, joined with ","
//	{http.auth.user.scope}           scope (space-separated)
//	{http.auth.user.client_id}       client_id, else azp
//	{http.auth.user.<claim>}         each configured custom claim
//
// The role claim may be a string, a comma- or space-separated string, or
// an array of strings (identity.ParseRoles reads all three).
type Provider struct {
	// The issuer URL. Tokens must carry exactly this `iss`. Without
	// jwks_url, keys come from the oidc_provider of this same config when
	// it serves this issuer (it registers with RegisterLocalIssuer),
	// otherwise from the `jwks_uri` of the issuer's
	// `<issuer>/.well-known/openid-configuration`, discovered on the first
	// request that needs keys (and retried until it works).
	//
	//	issuer <url>
	Issuer string `json:"issuer,omitempty"`

	// Where keys come from, overriding discovery. With issuer also set,
	// `iss` is still checked; without it, `iss` is not checked.
	//
	//	jwks_url <url>
	JWKSURL string `json:"jwks_url,omitempty"`

	// Accepted audiences: the token's `aud` must contain one of them. When
	// empty, `aud` is not checked, except that a token whose `aud` names a
	// client of the in-process oidc_provider (an ID token is addressed to
	// its client) is refused unless that client id is listed here.
	//
	//	audience <aud...>
	Audience []string `json:"audience,omitempty"`

	// Roles of which the token's `role` claim must hold at least one (403
	// otherwise). A role claim with several roles (an array, or a string
	// separated by commas or spaces) counts as each of them.
	//
	//	require_role <roles...>
	RequireRoles []string `json:"require_roles,omitempty"`

	// Refuse (403) tokens whose `email_verified` is not true.
	//
	//	require_verified_email
	RequireVerifiedEmail bool `json:"require_verified_email,omitempty"`

	// Send the identity upstream as request headers: X-User-Id,
	// X-User-Email, X-User-Role and X-User-Email-Verified unless renamed
	// with header_names. Client-sent copies are removed either way.
	//
	//	header_up
	HeaderUp bool `json:"header_up,omitempty"`

	// Header names by field: `id`, `email`, `role`, `email_verified`,
	// `scope`, `client_id` or a configured custom claim. Entries rename the
	// four default headers or add more. Every name here is also stripped
	// from incoming requests.
	//
	//	header_up {
	//		<field> <header-name>
	//	}
	HeaderNames map[string]string `json:"header_names,omitempty"`

	// JWS algorithms accepted. `none` and HMAC (HS256…) are refused at
	// config time: a public JWKS cannot hold a secret. Default: [RS256]
	//
	//	allowed_algorithms <algs...>
	AllowedAlgorithms []string `json:"allowed_algorithms,omitempty"`

	// Accept tokens whatever their JOSE `typ` header says. By default it
	// must be `at+jwt` (or `application/at+jwt`), as RFC 9068 §2.1 requires
	// of JWT access tokens, so that an ID token of the same issuer (signed
	// by the same keys, `typ` JWT) does not pass for an access token. Set
	// it for issuers whose access tokens carry another `typ` or none, and
	// set audience with it, so that ID tokens (whose `aud` is a client id)
	// are still refused. Default: false
	//
	//	allow_any_typ
	AllowAnyTyp bool `json:"allow_any_typ,omitempty"`

	// Clock skew tolerated on exp, nbf and iat, at most 5m. Default: 30s
	//
	//	leeway <duration>
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// Custom claims exposed as {http.auth.user.<name>} (strings as they
	// are, other JSON values as JSON text), such as a student's `stage`.
	//
	//	claim <names...>
	Claims []string `json:"claims,omitempty"`

	// How often keys are refreshed; a JWKS response's Cache-Control
	// max-age may shorten this, never lengthen it. Verified tokens are
	// cached no longer than this either. Default: 5m
	//
	//	refresh_interval <duration>
	RefreshInterval caddy.Duration `json:"refresh_interval,omitempty"`

	// The least time between two fetches triggered by tokens naming an
	// unknown key, so a flood of made-up kids cannot hammer the issuer;
	// also the first retry delay after a failed fetch. Default: 30s
	//
	//	min_refresh_interval <duration>
	MinRefreshInterval caddy.Duration `json:"min_refresh_interval,omitempty"`

	// How many verified tokens are remembered (by SHA-256) to skip the
	// signature check on repeat requests; -1 disables. Default: 10000
	//
	//	token_cache_size <n>
	TokenCacheSize int `json:"token_cache_size,omitempty"`

	// Introspect asks the issuer's RFC 7662 endpoint whether each token is
	// still active (see Introspect), for remote issuers whose revocations
	// must take effect before exp. Not needed for the in-process
	// oidc_provider, whose revocations bearer_jwt already sees. Default:
	// off (a remote issuer's token is accepted until it expires).
	//
	//	introspect <url> { client_id <id>; client_secret <secret>; cache <duration> }
	Introspect *Introspect `json:"introspect,omitempty"`

	verifier *bearer.Verifier
	keys     *keySource
	poolKey  string
	cache    *bearer.TokenCache[*verdict]
	cacheTTL time.Duration
	strip    []string        // canonical names of identity headers
	headers  []headerMapping // header_up fields, in a stable order
	now      func() time.Time
	logger   *zap.Logger
}

// headerMapping is one header_up field and the header it goes to.
type headerMapping struct {
	field  string
	header string // canonical
}

// verdict is the outcome for one token under this provider's settings,
// computed once and cached: the typed identity, the user for the
// placeholders, the header_up values, or the 403 refusal. It is shared by
// every request with the same token: read-only.
type verdict struct {
	identity *identity.Identity
	user     caddyauth.User
	headers  []headerValue
	refusal  *bearer.Refusal
	expiry   time.Time
	// What the issuer's revocation check needs, kept so that cached
	// verdicts are checked too.
	jti, sid, sub string
	iat           time.Time
}

type headerValue struct{ name, value string }

// refusalRecord is what a refusing provider leaves for bearer_jwt_errors.
type refusalRecord struct {
	*bearer.Refusal
	retryAfter int
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.bearer_jwt",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision resolves {env.*} placeholders, applies defaults, takes (or
// shares) the JWKS cache and, for an issuer without jwks_url, this
// config's registry of in-process issuers. It does no network I/O.
func (p *Provider) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	if err := metrics.Register(ctx, bearerRefusalsTotal, jwksFetchesTotal); err != nil {
		return err
	}
	p.now = time.Now
	repl := caddy.NewReplacer()
	p.Issuer = repl.ReplaceKnown(p.Issuer, "")
	p.JWKSURL = repl.ReplaceKnown(p.JWKSURL, "")
	for i, a := range p.Audience {
		p.Audience[i] = repl.ReplaceKnown(a, "")
	}
	algs := p.AllowedAlgorithms
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	allowed := make(map[string]bool, len(algs))
	for _, a := range algs {
		allowed[a] = bearer.Supported(a) // Validate reports the others
	}
	leeway := defaultLeeway
	if p.Leeway != nil {
		leeway = time.Duration(*p.Leeway)
	}
	refresh := cmpOr(time.Duration(p.RefreshInterval), defaultRefresh)
	minRefresh := cmpOr(time.Duration(p.MinRefreshInterval), defaultMinRefresh)

	p.verifier = &bearer.Verifier{
		Issuer:     p.Issuer,
		Audiences:  p.Audience,
		Algorithms: allowed,
		AnyType:    p.AllowAnyTyp,
		Leeway:     leeway,
		Claims:     p.Claims,
		Now:        func() time.Time { return p.now() },
	}
	if p.Issuer != "" || p.JWKSURL != "" {
		cfg := bearer.JWKSConfig{JWKSURL: p.JWKSURL, Issuer: p.Issuer, Interval: refresh, MinPeriod: min(minRefresh, refresh),
			OnFetch: countJWKSFetch}
		p.keys = &keySource{cfg: cfg, logger: p.logger, mayBeLocal: p.JWKSURL == ""}
		if p.keys.mayBeLocal {
			issuers, err := LocalIssuers(ctx)
			if err != nil {
				return err
			}
			p.keys.issuers = issuers
		}
		p.poolKey = cfg.PoolKey()
		val, _, err := jwksPool.LoadOrNew(p.poolKey, func() (caddy.Destructor, error) {
			return bearer.NewRefresher(bearer.NewJWKSCache(cfg, p.logger)), nil
		})
		if err != nil {
			p.poolKey = ""
			return err
		}
		p.keys.remote = val.(*bearer.Refresher)
		p.keys.remote.SetLogger(p.logger) // the newest config's logger reports
		p.verifier.Keys = p.keys
		p.verifier.ClientIDs = p.keys.ClientIDs
	}
	size := p.TokenCacheSize
	if size == 0 {
		size = defaultTokenCacheSize
	}
	p.cache = bearer.NewTokenCache[*verdict](size)
	p.cacheTTL = refresh
	if p.Introspect != nil {
		if err := p.Introspect.provision(size); err != nil {
			return err
		}
	}

	p.setupHeaders()
	return nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// setupHeaders builds the strip list and the header_up mappings.
func (p *Provider) setupHeaders() {
	names := map[string]string{
		"id":             defaultHeaderID,
		"email":          defaultHeaderEmail,
		"role":           defaultHeaderRole,
		"email_verified": defaultHeaderVerified,
	}
	strip := []string{defaultHeaderID, defaultHeaderEmail, defaultHeaderRole, defaultHeaderVerified}
	for field, name := range p.HeaderNames {
		names[field] = name
		strip = append(strip, name)
	}
	p.strip = p.strip[:0]
	seen := map[string]bool{}
	for _, s := range strip {
		c := http.CanonicalHeaderKey(s)
		if !seen[c] {
			seen[c] = true
			p.strip = append(p.strip, c)
		}
	}
	p.headers = p.headers[:0]
	for _, field := range sortedKeys(names) {
		p.headers = append(p.headers, headerMapping{field: field, header: http.CanonicalHeaderKey(names[field])})
	}
}

var (
	claimNameRE  = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
)

// Validate checks the configuration; it changes nothing.
func (p *Provider) Validate() error {
	if p.Issuer == "" && p.JWKSURL == "" {
		return fmt.Errorf("bearer_jwt: issuer or jwks_url is required")
	}
	for name, u := range map[string]string{"issuer": p.Issuer, "jwks_url": p.JWKSURL} {
		if u == "" {
			continue
		}
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return fmt.Errorf("bearer_jwt: %s %q is not an http(s) URL", name, u)
		}
	}
	for _, a := range p.AllowedAlgorithms {
		if !bearer.Supported(a) {
			if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
				return fmt.Errorf("bearer_jwt: algorithm %q can never be allowed: keys come from a public JWKS", a)
			}
			return fmt.Errorf("bearer_jwt: unsupported algorithm %q (supported: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)", a)
		}
	}
	if p.Leeway != nil && (*p.Leeway < 0 || time.Duration(*p.Leeway) > maxLeeway) {
		return fmt.Errorf("bearer_jwt: leeway must be between 0 and %s", maxLeeway)
	}
	if p.RefreshInterval < 0 || p.MinRefreshInterval < 0 {
		return fmt.Errorf("bearer_jwt: refresh intervals must be positive")
	}
	if p.TokenCacheSize < -1 {
		return fmt.Errorf("bearer_jwt: token_cache_size must be -1 (off), 0 (default) or positive")
	}
	known := map[string]bool{"id": true}
	for _, f := range strings.Fields(standardMetadataFields) {
		known[f] = true
	}
	for _, c := range p.Claims {
		if !claimNameRE.MatchString(c) {
			return fmt.Errorf("bearer_jwt: claim name %q must be letters, digits and underscores", c)
		}
		if known[c] || c == "sub" {
			return fmt.Errorf("bearer_jwt: claim %q is already exposed", c)
		}
	}
	for field, name := range p.HeaderNames {
		if !known[field] && !contains(p.Claims, field) {
			return fmt.Errorf("bearer_jwt: header_up field %q is neither id, email, role, email_verified, scope, client_id nor a configured claim", field)
		}
		if !headerNameRE.MatchString(name) {
			return fmt.Errorf("bearer_jwt: %q is not a valid header name", name)
		}
	}
	for _, r := range p.RequireRoles {
		if r == "" || strings.ContainsAny(r, ", \t\r\n") {
			return fmt.Errorf("bearer_jwt: role %q is invalid", r)
		}
	}
	return nil
}

// Cleanup releases this config's hold on the shared JWKS cache; the cache
// and its refresher stop when no config holds it any more. A cache of an
// in-process issuer belongs to this provider and stops now.
func (p *Provider) Cleanup() error {
	if p.keys != nil {
		p.keys.close()
	}
	if p.poolKey != "" {
		_, err := jwksPool.Delete(p.poolKey)
		p.poolKey = ""
		return err
	}
	return nil
}

// Authenticate implements caddyauth.Authenticator. A refused request gets
// its WWW-Authenticate challenge here and its status and JSON body from
// bearer_jwt_errors; the returned error is reserved for technical failures.
func (p *Provider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	bearer.StripIdentityHeaders(r.Header, p.strip)

	token, present, ok := bearer.BearerToken(r.Header.Get("Authorization"))
	if !present {
		return p.refuse(w, r, bearer.RefuseMissing)
	}
	if !ok {
		return p.refuse(w, r, bearer.RefuseMalformed)
	}
	now := p.now()
	key := bearer.Key(token)
	v, hit := p.cache.Get(key, now)
	if !hit {
		id, refusal := p.verifier.Verify(r.Context(), token)
		if refusal != nil {
			return p.refuse(w, r, refusal)
		}
		v = p.judge(id)
		until := now.Add(p.cacheTTL)
		if id.Expiry.Before(until) {
			until = id.Expiry
		}
		p.cache.Put(key, v, until, now)
	}
	if v.refusal != nil {
		return p.refuse(w, r, v.refusal)
	}
	if p.keys != nil {
		if revoked := p.keys.Revoked(); revoked != nil && revoked(v.jti, v.sid, v.sub, v.iat) {
			return p.refuse(w, r, bearer.RefuseRevoked)
		}
	}
	if p.Introspect != nil {
		if why := p.Introspect.check(r.Context(), token, key, v.expiry, now); why != nil {
			return p.refuse(w, r, why)
		}
	}
	identity.Set(r, v.identity)
	if p.HeaderUp && len(v.headers) > 0 {
		// One backing array for all values; each header gets a full slice
		// of capacity 1, so an append downstream copies instead of writing
		// into its neighbour.
		vals := make([]string, len(v.headers))
		for i, h := range v.headers {
			vals[i] = h.value
			r.Header[h.name] = vals[i : i+1 : i+1]
		}
	}
	return v.user, true, nil
}

// refuse records why, for bearer_jwt_errors, and sets the challenge.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, why *bearer.Refusal) (caddyauth.User, bool, error) {
	bearerRefusalsTotal.WithLabelValues(why.Reason).Inc()
	rec := &refusalRecord{Refusal: why}
	if why == bearer.RefuseNoKeys && p.keys != nil {
		rec.retryAfter = p.keys.RetryAfter()
	}
	caddyhttp.SetVar(r.Context(), refusalVar, rec)
	why.SetChallenge(w.Header())
	if c := p.logger.Check(zapcore.DebugLevel, "bearer token refused"); c != nil {
		c.Write(zap.String("reason", why.Reason), zap.Int("status", why.Status))
	}
	return caddyauth.User{}, false, nil
}

// judge turns a verified identity into this provider's verdict: the 403
// checks, the typed identity, the placeholders and the header_up values.
func (p *Provider) judge(id *bearer.Identity) *verdict {
	v := &verdict{expiry: id.Expiry, jti: id.TokenID, sid: id.SessionID, sub: id.Subject, iat: id.IssuedAt, identity: &identity.Identity{
		ID:            id.Subject,
		Email:         id.Email,
		EmailVerified: id.EmailVerified,
		Roles:         id.Roles,
		Claims:        id.Claims,
	}}
	if len(p.RequireRoles) > 0 && !v.identity.HasRole(p.RequireRoles...) {
		v.refusal = bearer.RefuseRole()
	} else if p.RequireVerifiedEmail && !id.EmailVerified {
		v.refusal = bearer.RefuseUnverified
	}
	fields := map[string]string{
		"email":          id.Email,
		"role":           id.Role,
		"email_verified": fmt.Sprint(id.EmailVerified),
		"scope":          id.Scope,
		"client_id":      id.ClientID,
	}
	for k, val := range id.Extra {
		fields[k] = val
	}
	v.user = caddyauth.User{ID: id.Subject, Metadata: fields}
	if p.HeaderUp {
		for _, m := range p.headers {
			val, ok := fields[m.field]
			if m.field == "id" {
				val, ok = id.Subject, true
			}
			if ok {
				v.headers = append(v.headers, headerValue{name: m.header, value: bearer.HeaderSafe(val)})
			}
		}
	}
	return v
}

// Interface guards
var (
	_ caddy.Provisioner       = (*Provider)(nil)
	_ caddy.Validator         = (*Provider)(nil)
	_ caddy.CleanerUpper      = (*Provider)(nil)
	_ caddyauth.Authenticator = (*Provider)(nil)
)
