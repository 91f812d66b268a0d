package bearer

import (
	"net/http"
	"strconv"

	"github.com/intellistack/intellistack/internal/apierror"
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

// The refusals (shared values: compare by identity). Descriptions go into a quoted WWW-Authenticate parameter, so
// they never contain a double quote or a backslash.
var (
	RefuseMissing      = &Refusal{http.StatusUnauthorized, "invalid_token", "missing", "No bearer token was sent. Sign in and send the access token in the Authorization header."}
	RefuseMalformed    = &Refusal{http.StatusUnauthorized, "invalid_token", "malformed", "The bearer token is malformed."}
	RefuseTokenType    = &Refusal{http.StatusUnauthorized, "invalid_token", "wrong_token_type", "The token is not an access token (its typ is not at+jwt). Send the access token, not the ID token."}
	RefuseAlgorithm    = &Refusal{http.StatusUnauthorized, "invalid_token", "algorithm_not_allowed", "The token is signed with an algorithm that is not accepted."}
	RefuseUnknownKey   = &Refusal{http.StatusUnauthorized, "invalid_token", "unknown_key", "The token is signed by an unknown key."}
	RefuseSignature    = &Refusal{http.StatusUnauthorized, "invalid_token", "bad_signature", "The token signature is invalid."}
	RefuseExpired      = &Refusal{http.StatusUnauthorized, "invalid_token", "expired", "The token has expired. Sign in again."}
	RefuseRevoked      = &Refusal{http.StatusUnauthorized, "invalid_token", "revoked", "The token has been revoked. Sign in again."}
	RefuseNotYetValid  = &Refusal{http.StatusUnauthorized, "invalid_token", "not_yet_valid", "The token is not valid yet."}
	RefuseIssuer       = &Refusal{http.StatusUnauthorized, "invalid_token", "wrong_issuer", "The token was issued by another issuer."}
	RefuseAudience     = &Refusal{http.StatusUnauthorized, "invalid_token", "wrong_audience", "The token is not meant for this service."}
	RefuseMissingClaim = &Refusal{http.StatusUnauthorized, "invalid_token", "missing_claim", "The token lacks a required claim (sub or exp)."}
	RefuseNoKeys       = &Refusal{http.StatusServiceUnavailable, "temporarily_unavailable", "keys_unavailable", "Sign-in keys are not available yet. Try again shortly."}
	RefuseUnverified   = &Refusal{http.StatusForbidden, "insufficient_scope", "email_not_verified", "Verify your email address to use this."}
)

// RefuseRole is the 403 for a valid token without any of the required roles.
func RefuseRole() *Refusal {
	return &Refusal{http.StatusForbidden, "insufficient_scope", "role_required", "Your account does not have the role this requires."}
}

// Challenge is the RFC 6750 §3 WWW-Authenticate value for a 401 or 403.
func (r *Refusal) Challenge() string {
	return `Bearer error="` + r.Code + `", error_description="` + r.Description + `"`
}

// SetChallenge puts the WWW-Authenticate header of a 401/403 on h.
func (r *Refusal) SetChallenge(h http.Header) {
	if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden {
		h.Set("WWW-Authenticate", r.Challenge())
	}
}

// APIError is the refusal as the platform's JSON error:
// {"error": {"code": …, "message": …, "reason": …}}.
func (r *Refusal) APIError() *apierror.Error {
	return apierror.New(r.Status, r.Code, r.Description).With("reason", r.Reason)
}

// Write answers the refusal with its status and the platform's JSON error
// envelope (the one request_quota and chatkit use), plus the challenge of a
// 401/403 or the Retry-After of a 503.
func (r *Refusal) Write(w http.ResponseWriter, retryAfter int) {
	h := w.Header()
	r.SetChallenge(h)
	if r.Status == http.StatusServiceUnavailable && retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	r.APIError().Write(w)
}
