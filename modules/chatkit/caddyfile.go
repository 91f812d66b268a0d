package chatkit

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("chatkit", parseChatKit)
	// A responder: after authentication (which sets the owner) and after
	// request_quota-style middleware, like the other terminal handlers.
	httpcaddyfile.RegisterDirectiveOrder("chatkit", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterHandlerDirective("chatkit_usage", parseUsage)
	httpcaddyfile.RegisterDirectiveOrder("chatkit_usage", httpcaddyfile.Before, "respond")
}

func parseChatKit(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ck := new(Handler)
	err := ck.UnmarshalCaddyfile(h.Dispenser)
	return ck, err
}

// UnmarshalCaddyfile parses the chatkit directive:
//
//	chatkit [<matcher>] {
//		responder <name> {
//			…                       # the responder's own options
//		}
//		max_request_body    <bytes>
//		read_timeout        <duration>
//		max_input           <bytes>
//		max_selection       <bytes>
//		max_stream_duration <duration>
//		history_items       <n>
//		max_page_size       <n>
//		retention           <duration>
//		thread_order        created|activity
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	ints := map[string]*int{
		"max_input": &h.MaxInputBytes, "max_selection": &h.MaxSelectionBytes,
		"history_items": &h.HistoryItems, "max_page_size": &h.MaxPageSize,
	}
	durations := map[string]*caddy.Duration{
		"max_stream_duration": &h.MaxStreamDuration, "retention": &h.Retention, "read_timeout": &h.ReadTimeout,
	}
	for d.NextBlock(0) {
		if dst, ok := ints[d.Val()]; ok {
			n, err := intArg(d)
			if err != nil {
				return err
			}
			*dst = n
			continue
		}
		if dst, ok := durations[d.Val()]; ok {
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			*dst = dur
			continue
		}
		switch d.Val() {
		case "responder":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			mod, err := caddyfile.UnmarshalModule(d, "intellistack.responders."+name)
			if err != nil {
				return err
			}
			if _, ok := mod.(responder.Responder); !ok {
				return d.Errf("module %s is not a responder", name)
			}
			h.ResponderRaw = caddyconfig.JSONModuleObject(mod, "name", name, nil)
		case "thread_order":
			_, v, err := oneArg(d)
			if err != nil {
				return err
			}
			if v != "created" && v != "activity" {
				return d.Errf("thread_order: %q is not created or activity", v)
			}
			h.ThreadOrder = v
		case "max_request_body":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			h.MaxRequestBody = int64(n)
		default:
			return d.Errf("unrecognized subdirective: %s", d.Val())
		}
	}
	return nil
}

// oneArg reads the single argument of the option under the cursor and
// returns the option's name with it.
func oneArg(d *caddyfile.Dispenser) (name, value string, err error) {
	name = d.Val()
	if !d.Args(&value) || d.NextArg() {
		return name, "", d.ArgErr()
	}
	return name, value, nil
}

// intArg reads exactly one non-negative integer argument.
func intArg(d *caddyfile.Dispenser) (int, error) {
	name, v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, d.Errf("%s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// durationArg reads exactly one duration argument (1m, 90s, 30d).
func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name, v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur < 0 {
		return 0, d.Errf("%s: %q is not a duration", name, v)
	}
	return caddy.Duration(dur), nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
