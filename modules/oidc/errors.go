package oidc

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/store"
)

// Protocol errors are apierror.OAuth values: a registered code (RFC 6749
// §4.1.2.1, §5.2; RFC 6750 §3.1; OpenID Connect Core §3.1.2.6) and a
// description for developers, cleaned to the characters RFC 6749 §5.2
// allows, so it is safe in a redirect, a JSON body and a WWW-Authenticate
// header. The helpers below name the common ones.

func errInvalidRequest(desc string) *apierror.OAuth {
	return apierror.NewOAuth(http.StatusBadRequest, "invalid_request", desc)
}

func errInvalidGrant(desc string) *apierror.OAuth {
	return apierror.NewOAuth(http.StatusBadRequest, "invalid_grant", desc)
}

func errInvalidClient(desc string) *apierror.OAuth {
	return apierror.NewOAuth(http.StatusUnauthorized, "invalid_client", desc)
}

func errServer(desc string) *apierror.OAuth {
	return apierror.NewOAuth(http.StatusInternalServerError, "server_error", desc)
}

// errUnavailable is the answer while the database is not open yet (the app
// opens it at start, after the handlers are provisioned).
func errUnavailable(desc string) *apierror.OAuth {
	return apierror.NewOAuth(http.StatusServiceUnavailable, "temporarily_unavailable", desc)
}

// errStorage is the answer to a storage error: 503 temporarily_unavailable
// when the database cannot serve now (restarting, unreachable, disk full),
// else 500 with desc. The failed transaction was rolled back, so the client
// may offer the same code or refresh token again once the database is back.
func errStorage(err error, desc string) *apierror.OAuth {
	if store.Unavailable(err) {
		return errUnavailable("the database is not available; try again shortly")
	}
	return errServer(desc)
}

// methodNotAllowed answers a known path with a wrong method.
func methodNotAllowed(w http.ResponseWriter, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	apierror.NewOAuth(http.StatusMethodNotAllowed, "invalid_request", "method not allowed; use "+strings.Join(allow, " or ")).Write(w)
}

// writeJSONCached writes a 200 JSON document whose caching the caller set
// (discovery); every other JSON response goes through apierror.JSON, which
// forbids caching.
func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
