package jwtauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Refusal is why bearer_jwt did not let a request through: the HTTP status,
// the RFC 6750 error code, a stable machine-readable reason and a sentence a
// client can show as it is.
type Refusal struct {
	Status      int    `json:"-"`
	Code        string `json:"code"`
	Reason      string `json:"reason"`
	Description string `json:"message"`
}

// String is what {http.vars.…} would show: the reason only.
func (r *Refusal) String() string { return r.Reason }

// The refusals. Descriptions go into a quoted WWW-Authenticate parameter, so
// they never contain a double quote or a backslash.
var (
	refuseMissing      = &Refusal{http.StatusUnauthorized, "invalid_token", "missing", "No bearer token was sent. Sign in and send the access token in the Authorization header."}
	refuseMalformed    = &Refusal{http.StatusUnauthorized, "invalid_token", "malformed", "The bearer token is malformed."}
	refuseAlgorithm    = &Refusal{http.StatusUnauthorized, "invalid_token", "algorithm_not_allowed", "The token is signed with an algorithm that is not accepted."}
	refuseUnknownKey   = &Refusal{http.StatusUnauthorized, "invalid_token", "unknown_key", "The token is signed by an unknown key."}
	refuseSignature    = &Refusal{http.StatusUnauthorized, "invalid_token", "bad_signature", "The token signature is invalid."}
	refuseExpired      = &Refusal{http.StatusUnauthorized, "invalid_token", "expired", "The token has expired. Sign in again."}
	refuseNotYetValid  = &Refusal{http.StatusUnauthorized, "invalid_token", "not_yet_valid", "The token is not valid yet."}
	refuseIssuer       = &Refusal{http.StatusUnauthorized, "invalid_token", "wrong_issuer", "The token was issued by another issuer."}
	refuseAudience     = &Refusal{http.StatusUnauthorized, "invalid_token", "wrong_audience", "The token is not meant for this service."}
	refuseMissingClaim = &Refusal{http.StatusUnauthorized, "invalid_token", "missing_claim", "The token lacks a required claim (sub or exp)."}
	refuseNoKeys       = &Refusal{http.StatusServiceUnavailable, "temporarily_unavailable", "keys_unavailable", "Sign-in keys are not available yet. Try again shortly."}
	refuseUnverified   = &Refusal{http.StatusForbidden, "insufficient_scope", "email_not_verified", "Verify your email address to use this."}
)

// refuseRole is the 403 for a valid token without any of the required roles.
func refuseRole() *Refusal {
	return &Refusal{http.StatusForbidden, "insufficient_scope", "role_required", "Your account does not have the role this requires."}
}

// challenge is the RFC 6750 §3 WWW-Authenticate value for a 401 or 403.
func (r *Refusal) challenge() string {
	return `Bearer error="` + r.Code + `", error_description="` + r.Description + `"`
}

// setChallenge puts the WWW-Authenticate header of a 401/403 on h.
func (r *Refusal) setChallenge(h http.Header) {
	if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden {
		h.Set("WWW-Authenticate", r.challenge())
	}
}

// write answers the refusal with its status and {"error": {...}} (the same
// envelope request_quota uses). A 503 carries Retry-After.
func (r *Refusal) write(w http.ResponseWriter, retryAfter int) {
	b, _ := json.Marshal(struct {
		Error *Refusal `json:"error"`
	}{r})
	h := w.Header()
	r.setChallenge(h)
	if r.Status == http.StatusServiceUnavailable && retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(r.Status)
	_, _ = w.Write(append(b, '\n'))
}
