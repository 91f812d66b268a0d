package jwtauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

// bearer_jwt's Prometheus metrics (see internal/metrics), shown at Caddy's
// admin /metrics.
var (
	bearerRefusalsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "bearer", Name: "refusals_total",
		Help: "Requests refused by bearer_jwt, by reason (the reason of the JSON error body): missing, malformed, " +
			"wrong_token_type, algorithm_not_allowed, unknown_key, bad_signature, expired, not_yet_valid, wrong_issuer, " +
			"wrong_audience, missing_claim, revoked (401); role_required, email_not_verified (403); keys_unavailable, " +
			"introspection_unavailable (503).",
	}, []string{"reason"})
	jwksFetchesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "bearer", Name: "jwks_fetches_total",
		Help: "Key set fetches by bearer_jwt's JWKS caches (discovery included; an in-process oidc_provider's keys read too), " +
			"by result: ok, or error (the last known keys are kept, or requests get 503 while there are none).",
	}, []string{"result"})
)

// refusalReasons is every refusal bearer_jwt can answer with: the whole set
// of the reason label.
var refusalReasons = []*bearer.Refusal{
	bearer.RefuseMissing, bearer.RefuseMalformed, bearer.RefuseTokenType, bearer.RefuseAlgorithm, bearer.RefuseUnknownKey,
	bearer.RefuseSignature, bearer.RefuseExpired, bearer.RefuseRevoked, bearer.RefuseNotYetValid, bearer.RefuseIssuer,
	bearer.RefuseAudience, bearer.RefuseMissingClaim, bearer.RefuseNoKeys, bearer.RefuseUnverified, bearer.RefuseRole(),
	refuseIntrospection,
}

func init() {
	// Every series exists from the start at 0, so that rate() and the
	// dashboard see the first refusal.
	for _, r := range refusalReasons {
		bearerRefusalsTotal.WithLabelValues(r.Reason)
	}
	jwksFetchesTotal.WithLabelValues("ok")
	jwksFetchesTotal.WithLabelValues("error")
}

// countJWKSFetch is the JWKS caches' OnFetch.
func countJWKSFetch(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	jwksFetchesTotal.WithLabelValues(result).Inc()
}
