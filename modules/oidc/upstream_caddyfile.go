package oidc

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalUpstream parses `upstream <name> { … }` (see Upstream).
func unmarshalUpstream(d *caddyfile.Dispenser) (*Upstream, error) {
	u := new(Upstream)
	if !d.Args(&u.Name) || d.NextArg() {
		return nil, d.Err("expected: upstream <name> { … }")
	}
	if !upstreamNameRE.MatchString(u.Name) || u.Name == "credential" {
		return nil, d.Errf("upstream %q: the name must be lower-case letters, digits, - and _", u.Name)
	}
	single := map[string]*string{"issuer": &u.Issuer, "client_id": &u.ClientID, "client_secret": &u.ClientSecret,
		"label": &u.Label, "auth_url": &u.AuthURL, "token_url": &u.TokenURL, "api_url": &u.APIURL, "trusted_ca": &u.TrustedCA}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if dst, ok := single[name]; ok {
			if *dst != "" {
				return nil, d.Errf("upstream %s: %s already set", u.Name, name)
			}
			if !d.Args(dst) || d.NextArg() {
				return nil, d.ArgErr()
			}
			continue
		}
		switch name {
		case "scopes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			u.Scopes = append(u.Scopes, args...)
		case "timeout":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return nil, d.Errf("upstream %s: timeout %q is not a positive duration", u.Name, v)
			}
			u.Timeout = caddy.Duration(dur)
		default:
			return nil, d.Errf("unrecognized upstream subdirective: %s", name)
		}
	}
	if u.ClientID == "" || u.ClientSecret == "" {
		return nil, d.Errf("upstream %s: client_id and client_secret are required", u.Name)
	}
	if u.Issuer == "" && u.Name != "google" && u.Name != "github" {
		return nil, d.Errf("upstream %s: issuer is required (only google and github have a default)", u.Name)
	}
	return u, nil
}
