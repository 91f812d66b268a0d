package oidc

import (
	"encoding/json"
	"net/http"
	"strings"
)

// oauthError is an OAuth 2.0 / OIDC error: a registered code (RFC 6749
// §4.1.2.1, §5.2; RFC 6750 §3.1; OIDC Core §3.1.2.6) and a description for
// developers. Descriptions never hold CR, LF, TAB or a double quote, so they
// are safe in a redirect, a JSON body and a WWW-Authenticate header (B19).
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func newError(status int, code, description string) *oauthError {
	return &oauthError{Code: code, Description: cleanDescription(description), status: status}
}

func errInvalidRequest(desc string) *oauthError {
	return newError(http.StatusBadRequest, "invalid_request", desc)
}

func errInvalidGrant(desc string) *oauthError {
	return newError(http.StatusBadRequest, "invalid_grant", desc)
}

func errInvalidClient(desc string) *oauthError {
	return newError(http.StatusUnauthorized, "invalid_client", desc)
}

func errServer(desc string) *oauthError {
	return newError(http.StatusInternalServerError, "server_error", desc)
}

// cleanDescription keeps only the characters RFC 6749 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E).
func cleanDescription(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
}

// writeJSON writes v with the status and the no-store headers every protocol
// response of ours carries (RFC 6749 §5.1; X6).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes a JSON error body with its status.
func writeError(w http.ResponseWriter, e *oauthError) {
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, e)
}

// methodNotAllowed answers a known path with a wrong method.
func methodNotAllowed(w http.ResponseWriter, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, newError(http.StatusMethodNotAllowed, "invalid_request", "method not allowed; use "+strings.Join(allow, " or ")))
}

// writeJSONCached writes a 200 JSON document whose caching the caller set.
func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
