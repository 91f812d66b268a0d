package jwtauth

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
)

func init() {
	httpcaddyfile.RegisterDirective("bearer_jwt", parseDirective)
	// With the other authentication directives, after basic_auth rather
	// than before it: oidc_provider is ordered before basic_auth and must
	// answer its public endpoints (discovery, JWKS, sign-in) ahead of any
	// bearer check at the same level; request_quota (after forward_auth)
	// and every responder still come later. Inside `route`, directives run
	// in written order.
	httpcaddyfile.RegisterDirectiveOrder("bearer_jwt", httpcaddyfile.After, "basic_auth")
}

// parseDirective emits one route holding bearer_jwt_errors followed by
// Caddy's authentication handler with the bearer_jwt provider, so refusals
// get JSON bodies and the proper status while authentication itself stays
// Caddy's (placeholders, handle_errors for everything else).
func parseDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	p := new(Provider)
	if err := p.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	var warnings []caddyconfig.Warning
	auth := caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"bearer_jwt": caddyconfig.JSON(p, &warnings)},
	}
	route := caddyhttp.Route{
		HandlersRaw: []json.RawMessage{
			caddyconfig.JSONModuleObject(ErrorWriter{}, "handler", "bearer_jwt_errors", &warnings),
			caddyconfig.JSONModuleObject(auth, "handler", "authentication", &warnings),
		},
	}
	if matcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{matcherSet}
	}
	if len(warnings) > 0 {
		return nil, h.Errf("encoding bearer_jwt: %s", warnings[0].Message)
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	bearer_jwt [<matcher>] {
//		issuer                 <url>        # iss to require; keys via its discovery document
//		jwks_url               <url>        # keys from here instead (iss still checked if issuer is set)
//		audience               <aud...>     # aud must contain one of these
//		require_role           <roles...>   # 403 unless the role claim holds one
//		require_verified_email              # 403 unless email_verified is true
//		header_up [{                        # identity to the backend as headers
//			<field> <header-name>           # id, email, role, email_verified, scope, client_id or a claim
//		}]
//		allowed_algorithms     <algs...>    # default RS256; none and HS* are refused
//		allow_any_typ                       # accept any typ header (default: at+jwt only)
//		leeway                 <duration>   # clock skew on exp/nbf/iat, default 30s
//		claim                  <names...>   # custom claims as {http.auth.user.<name>}
//		refresh_interval       <duration>   # JWKS refresh, default 5m
//		min_refresh_interval   <duration>   # least time between unknown-kid refreshes, default 30s
//		token_cache_size       <n>          # verified tokens remembered, default 10000, -1 off
//		introspect <url> {                  # RFC 7662: ask a remote issuer whether tokens are still active
//			client_id     <id>
//			client_secret <secret>          # use {env.…}
//			cache         <duration>        # answers reused, default 30s
//		}
//	}
//
// At least one of issuer and jwks_url is required. For example, the course
// API behind bearer tokens from the platform's own provider:
//
//	handle /api/* {
//		bearer_jwt {
//			issuer https://learn.example.com
//			audience course-api
//			claim stage
//			header_up {
//				stage X-User-Stage
//			}
//		}
//		reverse_proxy backend:8000
//	}
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "issuer", "jwks_url":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			target := &p.Issuer
			if opt == "jwks_url" {
				target = &p.JWKSURL
			}
			if *target != "" {
				return d.Errf("%s already set", opt)
			}
			*target = v
		case "audience", "require_role", "allowed_algorithms", "claim":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			switch opt {
			case "audience":
				p.Audience = append(p.Audience, args...)
			case "require_role":
				p.RequireRoles = append(p.RequireRoles, args...)
			case "allowed_algorithms":
				p.AllowedAlgorithms = append(p.AllowedAlgorithms, args...)
			case "claim":
				p.Claims = append(p.Claims, args...)
			}
		case "require_verified_email", "allow_any_typ":
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "allow_any_typ" {
				p.AllowAnyTyp = true
			} else {
				p.RequireVerifiedEmail = true
			}
		case "header_up":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.HeaderUp = true
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				field := d.Val()
				var name string
				if !d.Args(&name) || d.NextArg() {
					return d.Errf("header_up: expected <field> <header-name>")
				}
				if p.HeaderNames == nil {
					p.HeaderNames = make(map[string]string)
				}
				p.HeaderNames[field] = name
			}
		case "leeway", "refresh_interval", "min_refresh_interval":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur < 0 {
				return d.Errf("%s: %q is not a duration", opt, v)
			}
			switch opt {
			case "leeway":
				l := caddy.Duration(dur)
				p.Leeway = &l
			case "refresh_interval":
				p.RefreshInterval = caddy.Duration(dur)
			case "min_refresh_interval":
				p.MinRefreshInterval = caddy.Duration(dur)
			}
		case "token_cache_size":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return d.Errf("token_cache_size: %q is not -1, 0 or a positive number", v)
			}
			p.TokenCacheSize = n
		case "introspect":
			if p.Introspect != nil {
				return d.Err("introspect already set")
			}
			in := new(Introspect)
			if !d.Args(&in.URL) || d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch sub := d.Val(); sub {
				case "client_id", "client_secret":
					var v string
					if !d.Args(&v) || d.NextArg() {
						return d.ArgErr()
					}
					if sub == "client_id" {
						in.ClientID = v
					} else {
						in.ClientSecret = v
					}
				case "cache":
					var v string
					if !d.Args(&v) || d.NextArg() {
						return d.ArgErr()
					}
					dur, err := caddy.ParseDuration(v)
					if err != nil || dur <= 0 {
						return d.Errf("introspect cache: %q is not a positive duration", v)
					}
					in.Cache = caddy.Duration(dur)
				default:
					return d.Errf("introspect: unrecognized option %s", sub)
				}
			}
			if in.ClientID == "" {
				return d.Err("introspect needs client_id")
			}
			p.Introspect = in
		default:
			return d.Errf("unrecognized subdirective: %s", opt)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Provider)(nil)
