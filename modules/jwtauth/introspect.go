package jwtauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

// Introspect asks an issuer's token introspection endpoint (RFC 7662)
// whether a token that verified is still active, so that a revocation at
// a remote issuer takes effect before the token's exp. Each answer is
// cached for Cache, so a revocation reaches this route within that time,
// and the endpoint sees at most one request per token per Cache. An
// unreachable endpoint or an error answer refuses the request with 503
// (fail closed).
type Introspect struct {
	// URL of the introspection endpoint. Placeholders are expanded at load.
	URL string `json:"url"`

	// The credentials of a confidential client the issuer lets introspect
	// other clients' tokens (client_secret_basic). Use {env.…} for the
	// secret.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`

	// How long an answer is reused. Default: 30s.
	Cache caddy.Duration `json:"cache,omitempty"`

	client *http.Client
	cache  *bearer.TokenCache[bool]
	ttl    time.Duration
}

const defaultIntrospectCache = 30 * time.Second

// The refusals of introspection: an inactive token is refused as revoked;
// no answer is a 503.
var (
	refuseInactive      = bearer.RefuseRevoked
	refuseIntrospection = &bearer.Refusal{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Reason: "introspection_unavailable", Description: "The token could not be checked. Try again shortly."}
)

func (in *Introspect) provision(size int) error {
	repl := caddy.NewReplacer()
	in.URL = repl.ReplaceKnown(in.URL, "")
	in.ClientID = repl.ReplaceKnown(in.ClientID, "")
	in.ClientSecret = repl.ReplaceKnown(in.ClientSecret, "")
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("bearer_jwt: introspect %q is not an http(s) URL", in.URL)
	}
	if in.ClientID == "" {
		return fmt.Errorf("bearer_jwt: introspect needs client_id")
	}
	in.ttl = cmpOr(time.Duration(in.Cache), defaultIntrospectCache)
	if size <= 0 {
		size = defaultTokenCacheSize
	}
	in.cache = bearer.NewTokenCache[bool](size)
	in.client = &http.Client{Timeout: 5 * time.Second}
	return nil
}

// check returns nil when the token is active, else the refusal.
func (in *Introspect) check(ctx context.Context, token string, key [32]byte, expiry, now time.Time) *bearer.Refusal {
	active, hit := in.cache.Get(key, now)
	if !hit {
		var err error
		if active, err = in.ask(ctx, token); err != nil {
			return refuseIntrospection
		}
		until := now.Add(in.ttl)
		if expiry.Before(until) {
			until = expiry
		}
		in.cache.Put(key, active, until, now)
	}
	if !active {
		return refuseInactive
	}
	return nil
}

func (in *Introspect) ask(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret)) // RFC 6749 §2.3.1
	resp, err := in.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection answered %d", resp.StatusCode)
	}
	var body struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return false, err
	}
	return body.Active, nil
}
