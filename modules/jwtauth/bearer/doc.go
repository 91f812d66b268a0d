// Package bearer is the Caddy-free core of bearer_jwt: reading and
// verifying OAuth 2.0 bearer JWTs against a JWKS, the JWKS cache, the
// verified-token cache, the registry of in-process issuers and the
// RFC 6750 refusals. It does not import Caddy. Roles are read with the
// platform's one parser (identity/roles, behind identity.ParseRoles), so
// bearer_jwt and every module that reads an identity agree on them.
//
// # One JOSE path
//
// Tokens are parsed (jws.Parse) and verified (jws.Verify) with jwx, the
// library the OpenID provider signs them with; JWKS documents are read with
// jwk.Parse. What jwx leaves to the caller is done here: a strict compact
// shape before parsing, the allowed algorithms (never none or HMAC), the
// typ header (RFC 9068 §2.1), crit (RFC 7515 §4.1.11), the choice of keys
// by kid, and the claims.
//
// # Why the JWKS cache is not jwx's jwk.Cache
//
// jwk.Cache (jwx v2, on httprc v1) refreshes registered URLs on a schedule
// and keeps the last set it fetched, but bearer_jwt needs more than that,
// and each point is something operators rely on:
//
//   - Refresh on an unknown kid must be single-flight and rate-limited
//     (min_refresh_interval). jwk.Cache's Refresh always fetches, one
//     caller after another, so a flood of made-up kids would become a
//     flood of requests to the issuer.
//   - With no key ever obtained, requests get a 503 with Retry-After, and
//     the issuer is asked again after min_refresh_interval, backing off up
//     to refresh_interval while it stays down. After a failed first fetch,
//     jwk.Cache's Get returns nothing (and no error) until its next
//     scheduled refresh, a whole interval later.
//   - Last-known-good keys survive an outage (jwk.Cache keeps them too).
//   - A Cache-Control max-age may shorten the refresh interval, never
//     lengthen it (a revoked key must stop working within
//     refresh_interval); httprc lets max-age lengthen it, or ignores it
//     when an interval is set.
//   - Keys may come from an issuer's discovery document (OpenID Connect
//     Discovery 1.0 §4, with the §4.3 issuer check) or from an OpenID
//     provider in the same process, not only from a URL.
//   - Documents are bounded in size (1 MiB); httprc reads bodies whole.
//
// The cache is small (jwks.go) and is tested with an injected clock.
package bearer
