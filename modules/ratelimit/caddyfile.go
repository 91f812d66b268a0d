package ratelimit

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("request_quota", parseCaddyfile)
	// After every authentication directive (basic_auth, forward_auth, and
	// plugin ones ordered next to them), so {http.auth.user.*} is set when
	// the key and the exempt roles are read; before request_header, encode,
	// handle, route and the responders, so a refused request costs nothing
	// downstream. Inside a `route` block, directives run in written order:
	// put request_quota after the authentication directive there.
	httpcaddyfile.RegisterDirectiveOrder("request_quota", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	q := new(Handler)
	err := q.UnmarshalCaddyfile(h.Dispenser)
	return q, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	request_quota [<matcher>] {
//		key          <placeholder template>
//		limit        <n> per <duration>    # repeatable; all apply
//		exempt_roles <roles…>              # users holding any of these (typed identity)
//		exempt {                           # requests never limited
//			<matchers…>
//		}
//		store        memory|database       # default: database
//		zone         <name>                # default: derived from the key
//		fail_open                          # admit when the store is down
//	}
//
// For example, 20 tutor messages per rolling 24 hours per student:
//
//	request_quota @send {
//		key {http.auth.user.id}
//		limit 20 per 24h
//		exempt_roles instructor admin
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "key":
			if h.Key != "" {
				return d.Err("key already set")
			}
			if !d.Args(&h.Key) || d.NextArg() {
				return d.ArgErr()
			}
		case "limit":
			var n, per, window string
			if !d.Args(&n, &per, &window) || d.NextArg() {
				return d.Err("expected: limit <n> per <duration>")
			}
			count, err := strconv.Atoi(n)
			if err != nil || count < 1 || count > MaxCount {
				return d.Errf("limit: %q is not a whole number from 1 to %d", n, MaxCount)
			}
			if per != "per" {
				return d.Errf("limit: expected 'per', got %q", per)
			}
			dur, err := caddy.ParseDuration(window)
			if err != nil || dur <= 0 {
				return d.Errf("limit: %q is not a positive duration", window)
			}
			h.Limits = append(h.Limits, LimitConfig{Count: count, Window: caddy.Duration(dur)})
		case "exempt_roles":
			roles := d.RemainingArgs()
			if len(roles) == 0 {
				return d.ArgErr()
			}
			h.ExemptRoles = append(h.ExemptRoles, roles...)
		case "exempt":
			if h.ExemptRaw != nil {
				return d.Err("exempt already set")
			}
			set, err := caddyhttp.ParseCaddyfileNestedMatcherSet(d)
			if err != nil {
				return err
			}
			h.ExemptRaw = set
		case "store":
			if !d.Args(&h.Store) || d.NextArg() {
				return d.ArgErr()
			}
			if h.Store != "memory" && h.Store != "database" {
				return d.Errf("store: %q is not one of memory, database", h.Store)
			}
		case "zone":
			if !d.Args(&h.Zone) || d.NextArg() {
				return d.ArgErr()
			}
		case "fail_open":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.FailOpen = true
		default:
			return d.Errf("unrecognized subdirective: %s", d.Val())
		}
	}
	if h.Key == "" {
		return d.Err("request_quota: key is required")
	}
	if len(h.Limits) == 0 {
		return d.Err("request_quota: at least one 'limit <n> per <duration>' is required")
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
