package oidc

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/ratelimit"
)

// The provider's Prometheus metrics (see internal/metrics), shown at Caddy's
// admin /metrics. Sign-ins, their failures, issued tokens and refresh reuse
// are all counted from the audit record (record, through authFacts), the
// one place every way in (hosted pages, better_auth_api, upstream
// providers) already reports to, so the three paths cannot disagree.
var (
	signInsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "oidc", Name: "sign_ins_total",
		Help: "Successful sign-ins, by method: password (hosted sign-in page), better_auth (better_auth_api e-mail and password), " +
			"upstream (an upstream identity provider, a first sign-in that creates the account included).",
	}, []string{"method"})
	signInFailuresTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "oidc", Name: "sign_in_failures_total",
		Help: "Refused sign-ins (all methods), by reason: bad_credentials, locked (the account's brute-force lockout), " +
			"rate_limited (too many attempts from the client's address), banned, unverified_email, upstream_error, " +
			"invalid_request (an upstream answer not matching its sign-in), conflict (a concurrent sign-in), other.",
	}, []string{"reason"})
	lockoutsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "oidc", Name: "lockouts_total",
		Help: "Accounts locked by the brute-force guard: failed password attempts that used up an account's lockout allowance " +
			"(sign-in or password change, hosted pages or better_auth_api).",
	})
	tokensIssuedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "oidc", Name: "tokens_issued_total",
		Help: "Tokens issued, by grant_type: authorization_code and refresh_token (token endpoint answers with tokens), " +
			"better_auth_jwt (JWTs signed by better_auth_api's /token and get-session's set-auth-jwt header).",
	}, []string{"grant_type"})
	refreshReuseTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "oidc", Name: "refresh_reuse_detected_total",
		Help: "Rotated refresh tokens presented again (the token family is revoked each time).",
	})
)

// Label values, the whole set of each label.
const (
	methodPassword   = "password"
	methodBetterAuth = "better_auth"
	methodUpstream   = "upstream"

	reasonBadCredentials  = "bad_credentials"
	reasonLocked          = "locked"
	reasonRateLimited     = "rate_limited"
	reasonBanned          = "banned"
	reasonUnverifiedEmail = "unverified_email"
	reasonUpstreamError   = "upstream_error"
	reasonInvalidRequest  = "invalid_request"
	reasonConflict        = "conflict"
	reasonOther           = "other"

	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantBetterAuthJWT     = "better_auth_jwt"
)

func init() {
	// Every series exists from the start at 0, so that rate() and the
	// dashboard see the first event.
	for _, m := range []string{methodPassword, methodBetterAuth, methodUpstream} {
		signInsTotal.WithLabelValues(m)
	}
	for _, r := range []string{reasonBadCredentials, reasonLocked, reasonRateLimited, reasonBanned, reasonUnverifiedEmail,
		reasonUpstreamError, reasonInvalidRequest, reasonConflict, reasonOther} {
		signInFailuresTotal.WithLabelValues(r)
	}
	for _, g := range []string{grantAuthorizationCode, grantRefreshToken, grantBetterAuthJWT} {
		tokensIssuedTotal.WithLabelValues(g)
	}
}

// collectors are all of the above.
var collectors = []prometheus.Collector{signInsTotal, signInFailuresTotal, lockoutsTotal, tokensIssuedTotal, refreshReuseTotal}

// registerMetrics adds the provider's collectors to the config's registry.
func registerMetrics(ctx caddy.Context) error { return metrics.Register(ctx, collectors...) }

// facts is what one audit event tells the metrics; zero values mean no.
type facts struct {
	signIn  string // a successful sign-in's method
	failure string // a refused sign-in's reason
	grant   string // tokens issued under this grant type
	reuse   bool   // a refresh token presented again
}

// authFacts reads an audit event. The audit rows say what happened in
// Event and Outcome, and why in a free-text Detail that is a fixed sentence
// per refusal (upstream events put "<upstream name>: " first); these
// sentences are mapped to reasons here and nowhere else.
func authFacts(e storage.Event) facts {
	switch e.Event {
	case evSignIn:
		if e.Outcome == "success" {
			if e.Detail == "better_auth_api" {
				return facts{signIn: methodBetterAuth}
			}
			return facts{signIn: methodPassword}
		}
		return facts{failure: passwordReason(e.Detail)}
	case evUpstreamSignIn, evUpstreamSignUp:
		if e.Outcome == "success" {
			return facts{signIn: methodUpstream}
		}
		return facts{failure: upstreamReason(upstreamDetail(e.Detail))}
	case evUpstreamLink:
		// A link refused during an upstream sign-in (the address matches an
		// account that cannot be linked safely) refuses that sign-in; other
		// link refusals come from the linked accounts page, not a sign-in.
		if d := upstreamDetail(e.Detail); e.Outcome == "failure" &&
			(strings.HasPrefix(d, "unverified e-mail") || d == "account linked concurrently") {
			return facts{failure: upstreamReason(d)}
		}
	case evTokenIssued:
		return facts{grant: grantAuthorizationCode}
	case evTokenRefresh:
		return facts{grant: grantRefreshToken}
	case evRefreshReuse:
		return facts{reuse: true}
	}
	return facts{}
}

// upstreamDetail drops the "<upstream name>: " an upstream event's detail
// starts with.
func upstreamDetail(d string) string {
	if _, rest, ok := strings.Cut(d, ": "); ok {
		return rest
	}
	return d
}

// passwordReason is the reason of a refused e-mail and password sign-in.
func passwordReason(detail string) string {
	switch detail {
	case errBadCredentials.Error():
		return reasonBadCredentials
	case errBanned.Error():
		return reasonBanned
	case "account locked after failed sign-ins":
		return reasonLocked
	case "too many attempts from this address":
		return reasonRateLimited
	case "email not verified":
		return reasonUnverifiedEmail
	}
	return reasonOther
}

// upstreamReason is the reason of a refused upstream sign-in, from its
// detail without the upstream's name.
func upstreamReason(d string) string {
	switch {
	case strings.HasPrefix(d, "upstream error"), strings.HasPrefix(d, "ID token refused"),
		d == "issuer mismatch", d == "no usable e-mail address":
		return reasonUpstreamError
	case d == "state mismatch", d == "nonce mismatch":
		return reasonInvalidRequest
	case d == errBanned.Error():
		return reasonBanned
	case strings.HasPrefix(d, "unverified e-mail"):
		return reasonUnverifiedEmail
	case d == "account linked concurrently", d == "created concurrently":
		return reasonConflict
	}
	return reasonOther
}

// count adds an audit event to the metrics.
func (f facts) count() {
	switch {
	case f.signIn != "":
		signInsTotal.WithLabelValues(f.signIn).Inc()
	case f.failure != "":
		signInFailuresTotal.WithLabelValues(f.failure).Inc()
	case f.grant != "":
		tokensIssuedTotal.WithLabelValues(f.grant).Inc()
	case f.reuse:
		refreshReuseTotal.Inc()
	}
}

// logAuthEvent writes the access-style line of an audit event: who (hashed),
// what, for which client, from where, and the method or reason. Never the
// e-mail or the free-text detail (which may quote what a user typed).
func (p *provider) logAuthEvent(e storage.Event, f facts) {
	fields := make([]zap.Field, 0, 8)
	fields = append(fields, zap.String("event", e.Event), zap.String("outcome", e.Outcome), metrics.UserField(e.UserID))
	if e.ActorID != "" {
		fields = append(fields, zap.String("actor", metrics.UserHash(e.ActorID)))
	}
	if e.ClientID != "" {
		fields = append(fields, zap.String("client_id", e.ClientID))
	}
	if f.signIn != "" {
		fields = append(fields, zap.String("method", f.signIn))
	}
	if f.failure != "" {
		fields = append(fields, zap.String("reason", f.failure))
	}
	if f.grant != "" {
		fields = append(fields, zap.String("grant_type", f.grant))
	}
	fields = append(fields, zap.String("remote_ip", e.IP))
	p.logger.Info("auth event", fields...)
}

// lockedOut counts a lockout when d, the decision of a password attempt
// that then failed, used the account's last allowed attempt: from now on
// the account is locked. Decisions of a limiter that is off or failed are
// not Allowed, so they never count.
func lockedOut(d ratelimit.Decision) {
	if d.Allowed && d.Remaining == 0 && d.Limit.Count > 0 {
		lockoutsTotal.Inc()
	}
}
