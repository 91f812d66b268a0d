package oidc

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"strconv"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oidc_provider", parseCaddyfile)
	// Before basic_auth, hence before every authentication directive, the
	// handle/route blocks and the responders (respond, reverse_proxy,
	// file_server): the provider answers its own paths even in a site that
	// protects or proxies everything else, and passes other requests on.
	httpcaddyfile.RegisterDirectiveOrder("oidc_provider", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Handler)
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return p, err
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	oidc_provider {
//		issuer <url>
//		client <id> {
//			redirect_uri <uri…>              # repeatable; exact match
//			post_logout_redirect_uri <uri…>  # repeatable
//			public                           # no secret; PKCE S256 required
//			secret <value>                   # confidential; use {env.…}
//			scope <scope…>                   # allowed scopes (default: all)
//			skip_consent                     # first-party client
//			offline_access                   # may get refresh tokens (scope offline_access)
//			introspect                       # resource server: may introspect any client's tokens
//			name <text>                      # shown on the consent page
//		}
//		access_token_ttl  <duration>         # default 6h
//		refresh_token_ttl <duration>         # default 168h
//		id_token_ttl      <duration>         # default 1h
//		code_ttl          <duration>         # default 60s
//		session_ttl       <duration>         # default 168h
//		signing_alg       RS256|ES256|EdDSA  # default RS256
//		key_rotation      <duration>         # default 720h
//		key_publish_ahead <duration>         # default 24h
//		audience          <aud…>             # default: the issuer
//		templates         <dir>              # page template overrides
//		branding {                           # the hosted pages' look; default: no name or logo, blue
//			name  "Python 101"
//			logo  /assets/logo.svg           # a path on this site or an https URL
//			color "#0b6bcb"                  # quoted: an unquoted # starts a comment
//		}
//		lockout           <failures> <window> | off   # default 5 30m
//		ip_limit          <n> per <window> | off      # sign-in/up posts per IP, default 30 per 15m
//		claims            <name…>            # per-user claims put in tokens; default none
//		mail {                               # default: no mail (no verification, no reset)
//			from "Course <noreply@learn.example.com>"   # required
//			smtp <host:port> {               # or: outbox <dir> (.eml files, development)
//				username <name>              # default: no AUTH
//				password {env.SMTP_PASSWORD} # expanded at provision
//				tls starttls|implicit|none   # default starttls
//			}
//			templates <dir>                  # mail template overrides
//		}
//		require_verified_email               # unverified users stop at "check your inbox"
//		upstream google|github|<name> {      # repeatable; "Continue with …" (see Upstream)
//			client_id <id>; client_secret {env.…}; issuer <url>; scopes <scope…>; label <text>
//		}
//	}
//
// The minimal form:
//
//	oidc_provider {
//		issuer https://learn.example.com
//		client web {
//			redirect_uri https://learn.example.com/auth/callback
//			public
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	durations := map[string]*caddy.Duration{
		"access_token_ttl": &h.AccessTokenTTL, "refresh_token_ttl": &h.RefreshTokenTTL, "id_token_ttl": &h.IDTokenTTL,
		"code_ttl": &h.CodeTTL, "session_ttl": &h.SessionTTL, "key_rotation": &h.KeyRotation,
		"key_publish_ahead": &h.KeyPublishAhead,
	}
	for d.NextBlock(0) {
		name := d.Val()
		if dst, ok := durations[name]; ok {
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s: %q is not a positive duration", name, v)
			}
			*dst = caddy.Duration(dur)
			continue
		}
		switch name {
		case "issuer":
			if h.Issuer != "" {
				return d.Err("issuer already set")
			}
			if !d.Args(&h.Issuer) || d.NextArg() {
				return d.ArgErr()
			}
		case "signing_alg":
			if !d.Args(&h.SigningAlg) || d.NextArg() {
				return d.ArgErr()
			}
			switch h.SigningAlg {
			case "RS256", "ES256", "EdDSA":
			default:
				return d.Errf("signing_alg: %q is not one of RS256, ES256, EdDSA", h.SigningAlg)
			}
		case "lockout":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "off":
				h.LockoutFailures = -1
			case len(args) == 2:
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return d.Errf("lockout: %q is not a positive number of failures", args[0])
				}
				w, err := caddy.ParseDuration(args[1])
				if err != nil || w <= 0 {
					return d.Errf("lockout: bad window %q", args[1])
				}
				h.LockoutFailures, h.LockoutWindow = n, caddy.Duration(w)
			default:
				return d.Err("lockout: use lockout <failures> <window>, or lockout off")
			}
		case "ip_limit":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "off":
				h.IPLimit = -1
			case len(args) == 3 && args[1] == "per":
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return d.Errf("ip_limit: %q is not a positive number", args[0])
				}
				w, err := caddy.ParseDuration(args[2])
				if err != nil || w <= 0 {
					return d.Errf("ip_limit: bad window %q", args[2])
				}
				h.IPLimit, h.IPLimitWindow = n, caddy.Duration(w)
			default:
				return d.Err("ip_limit: use ip_limit <n> per <window>, or ip_limit off")
			}
		case "claims":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, name := range args {
				if err := checkClaimName(name); err != nil {
					return d.Errf("claims: %v", err)
				}
			}
			h.Claims = append(h.Claims, args...)
		case "templates":
			if !d.Args(&h.Templates) || d.NextArg() {
				return d.ArgErr()
			}
		case "branding":
			if h.Branding != nil {
				return d.Err("branding already set")
			}
			b, err := unmarshalBranding(d)
			if err != nil {
				return err
			}
			h.Branding = b
		case "mail":
			if h.Mail != nil {
				return d.Err("mail already set")
			}
			m, err := unmarshalMail(d)
			if err != nil {
				return err
			}
			h.Mail = m
		case "require_verified_email":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.RequireVerifiedEmail = true
		case "audience":
			h.Audience = append(h.Audience, d.RemainingArgs()...)
			if len(h.Audience) == 0 {
				return d.ArgErr()
			}
		case "upstream":
			u, err := unmarshalUpstream(d)
			if err != nil {
				return err
			}
			h.Upstreams = append(h.Upstreams, u)
		case "client":
			c, err := unmarshalClient(d)
			if err != nil {
				return err
			}
			h.Clients = append(h.Clients, c)
		default:
			return d.Errf("unrecognized subdirective: %s", name)
		}
	}
	return nil
}

func unmarshalClient(d *caddyfile.Dispenser) (*Client, error) {
	c := new(Client)
	if !d.Args(&c.ID) || d.NextArg() {
		return nil, d.Err("expected: client <id> { … }")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "redirect_uri":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			c.RedirectURIs = append(c.RedirectURIs, args...)
		case "post_logout_redirect_uri":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, args...)
		case "public":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.Public = true
		case "skip_consent":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.SkipConsent = true
		case "offline_access":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.OfflineAccess = true
		case "introspect":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			c.Introspect = true
		case "secret":
			if !d.Args(&c.Secret) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "name":
			if !d.Args(&c.Name) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "scope":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			c.Scopes = append(c.Scopes, args...)
		default:
			return nil, d.Errf("unrecognized client subdirective: %s", d.Val())
		}
	}
	if c.Public && c.Secret != "" {
		return nil, d.Errf("client %s: `public` and `secret` exclude each other", c.ID)
	}
	return c, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
