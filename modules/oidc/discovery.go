package oidc

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Cache lifetimes. The JWKS max-age must stay well below the key-publication
// lead (24 h by default) so that relying parties learn a new key before it
// signs anything.
const (
	discoveryMaxAge = "public, max-age=3600"
	jwksMaxAge      = "public, max-age=900" // jwksCacheTime
	// jwksCacheTime is jwksMaxAge as a duration: a new key must be
	// published longer ahead than this.
	jwksCacheTime = 15 * time.Minute
)

// metadata is the discovery document (OpenID Connect Discovery §3, RFC 8414
// §2).
func (p *provider) metadata() map[string]any {
	return map[string]any{
		"issuer":                                        p.issuer,
		"authorization_endpoint":                        p.url(pathAuthorize),
		"token_endpoint":                                p.url(pathToken),
		"userinfo_endpoint":                             p.url(pathUserinfo),
		"jwks_uri":                                      p.url(pathJWKS),
		"revocation_endpoint":                           p.url(pathRevoke),
		"introspection_endpoint":                        p.url(pathIntrospect),
		"end_session_endpoint":                          p.url(pathEndSession),
		"scopes_supported":                              supportedScopes,
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query", "form_post"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{string(p.keys.cfg.alg)},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":              []string{"S256"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"name", "picture", "updated_at", "email", "email_verified", "role"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"authorization_response_iss_parameter_supported": true,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
	}
}

func (p *provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", discoveryMaxAge)
	writeJSONCached(w, p.metadata())
}

func (p *provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	_, jwks, err := p.keys.published(r.Context())
	if err != nil {
		p.logger.Error("loading signing keys", zap.Error(err))
		errUnavailable("signing keys are not available").Write(w)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", jwksMaxAge)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(jwks)
	}
}
