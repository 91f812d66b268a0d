package chatkit

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

func init() {
	caddy.RegisterModule(Echo{})
}

// Echo is the deterministic responder for tests and local trials
// (`intellistack.responders.echo`). It answers "<prefix><the user's text>",
// adds " (page: <title>)" when the page context has a title, streams the
// reply one word per text delta, and names an untitled thread after the
// first message. A message containing the Fail marker makes it fail after
// the first delta (an error event), for tests.
//
//	responder echo {
//		prefix <text>
//		delay  <duration>
//		fail   <marker>
//	}
type Echo struct {
	// Prefix starts every reply. Default: "Echo: ".
	Prefix *string `json:"prefix,omitempty"`
	// Delay waits between deltas, to simulate a model. Default: 0.
	Delay caddy.Duration `json:"delay,omitempty"`
	// Fail is a marker: a message containing it fails mid-reply.
	Fail string `json:"fail,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Echo) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack.responders.echo",
		New: func() caddy.Module { return new(Echo) },
	}
}

// Reply is the full text Echo answers to req, for tests.
func (e *Echo) Reply(req *responder.Request) string {
	prefix := "Echo: "
	if e.Prefix != nil {
		prefix = *e.Prefix
	}
	text := "(tool output received)"
	if req.Input != nil {
		text = req.Input.Text()
	}
	reply := prefix + text
	if req.Page.Title != "" {
		reply += " (page: " + req.Page.Title + ")"
	}
	return reply
}

// HistoryItems implements responder.HistorySizer: the echo answers the
// new message only.
func (*Echo) HistoryItems() int { return 0 }

// Respond streams the reply word by word.
func (e *Echo) Respond(ctx context.Context, req *responder.Request, s responder.Stream) error {
	m, err := responder.StartMessage(s)
	if err != nil {
		return err
	}
	words := strings.SplitAfter(e.Reply(req), " ")
	for i, w := range words {
		if i > 0 && e.Delay > 0 {
			t := time.NewTimer(time.Duration(e.Delay))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := m.Delta(w); err != nil {
			return err
		}
		if i == 0 && e.Fail != "" && req.Input != nil && strings.Contains(req.Input.Text(), e.Fail) {
			return &responder.UserError{Message: "The echo responder failed on purpose.", AllowRetry: true}
		}
	}
	if err := m.Done(); err != nil {
		return err
	}
	// Like a real responder, name the thread once its first turn is done.
	if req.Title == "" && req.Input != nil {
		s.SetTitle(titleOf(req.Input.Text()))
	}
	return nil
}

// titleOf makes a short thread title from a first message.
func titleOf(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= 40 {
		return text
	}
	r := []rune(text)
	return strings.TrimSpace(string(r[:40])) + "…"
}

// UnmarshalCaddyfile parses the syntax shown on Echo.
func (e *Echo) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "prefix":
			var v string
			if !d.Args(&v) {
				return d.ArgErr()
			}
			e.Prefix = &v
		case "delay":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			e.Delay = dur
		case "fail":
			if !d.Args(&e.Fail) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective: %s", d.Val())
		}
	}
	return nil
}

var (
	_ responder.Responder    = (*Echo)(nil)
	_ responder.HistorySizer = (*Echo)(nil)
	_ caddyfile.Unmarshaler  = (*Echo)(nil)
)
