package widget

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("tutor_widget", parseCaddyfile)
	// A responder, like chatkit: before respond, so a catch-all respond or
	// file_server in the same site does not answer the widget's paths.
	httpcaddyfile.RegisterDirectiveOrder("tutor_widget", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	w := new(Widget)
	err := w.UnmarshalCaddyfile(h.Dispenser)
	return w, err
}

// UnmarshalCaddyfile parses the syntax shown on Widget.
func (w *Widget) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // tutor_widget
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_age":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("max_age: %v", err)
			}
			w.MaxAge = caddy.Duration(dur)
		default:
			return d.Errf("unknown tutor_widget option %q", d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Widget)(nil)
