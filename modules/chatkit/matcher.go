package chatkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(MatchOp{})
}

// MatchOp matches ChatKit requests by operation, the body's "type", so
// that a Caddyfile can rate-limit only the operations that send messages:
//
//	@send chatkit_op threads.create threads.add_user_message threads.retry_after_item
//	request_quota @send { … }
//
// It reads the body as the chatkit handler does (at most max_request_body,
// within read_timeout), parses it with the handler's parser, puts it back
// for whoever reads it next, and leaves the parse in a request variable for
// the handler, which then neither reads nor parses it again: the operation
// a quota counted is the operation the handler runs.
//
// A POST whose body it cannot classify matches, whatever operations are
// listed: a body larger than max_request_body, one not read within
// read_timeout, and one the parser refuses (not JSON, a key given twice, a
// key in another case than the protocol's, a top-level key other than type,
// params and metadata, an unknown operation, invalid params). Failing
// closed, a request the handler is going to refuse may be counted, but no
// request runs a turn without being counted. Keep max_request_body and
// read_timeout equal to the handler's (the defaults are): with a larger
// handler limit, bodies between the two are counted whatever they are.
// Requests other than POST never match; the handler answers them 405.
//
// The JSON form is the list of operations, or, with options, an object:
//
//	"chatkit_op": ["threads.create", "threads.add_user_message"]
//	"chatkit_op": {"operations": ["threads.create"], "read_timeout": 5000000000}
type MatchOp struct {
	// Operations are the operations that match. At least one is required;
	// a name that is not a ChatKit operation fails the config load.
	//
	//	chatkit_op <operation…>
	Operations []string `json:"operations"`

	// MaxRequestBody is how much of the body the matcher reads; a longer
	// body matches. Default: 1 MiB, the handler's default.
	//
	//	max_request_body <bytes>
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	// ReadTimeout bounds the time to receive the body, counted from when
	// the matcher starts reading it; a body not read by then matches (and
	// the handler answers 408). Default: 10s, the handler's default. A
	// matcher gets no ResponseWriter: it sets the deadline through Caddy's
	// idle-timeout wrappers, which are on by default; with both
	// read_idle_timeout and write_idle_timeout disabled it reads without
	// one (the handler still has its own).
	//
	//	read_timeout <duration>
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (MatchOp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.chatkit_op",
		New: func() caddy.Module { return new(MatchOp) },
	}
}

// Provision checks the operation names, so a typo fails the config load
// instead of silently never matching.
func (m *MatchOp) Provision(caddy.Context) error {
	if len(m.Operations) == 0 {
		return fmt.Errorf("chatkit_op needs at least one operation")
	}
	for _, op := range m.Operations {
		if _, ok := operations[op]; !ok {
			return fmt.Errorf("chatkit_op: unknown operation %q", op)
		}
	}
	if m.MaxRequestBody < 0 || m.ReadTimeout < 0 {
		return fmt.Errorf("chatkit_op: limits must not be negative")
	}
	return nil
}

// Match implements caddyhttp.RequestMatcher.
func (m *MatchOp) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError implements caddyhttp.RequestMatcherWithError.
func (m *MatchOp) MatchWithError(r *http.Request) (bool, error) {
	if r.Method != http.MethodPost {
		return false, nil
	}
	op, ok := m.classify(r)
	return !ok || slices.Contains(m.Operations, op), nil
}

// classify returns the request's operation; ok is false when the body
// cannot be classified. The first chatkit_op of a request reads the body;
// later ones reuse what it read.
func (m *MatchOp) classify(r *http.Request) (op string, ok bool) {
	rec := sharedBody(r)
	if rec == nil {
		limit, timeout := m.MaxRequestBody, time.Duration(m.ReadTimeout)
		if limit <= 0 {
			limit = defaultMaxBody
		}
		if timeout <= 0 {
			timeout = defaultReadTimeout
		}
		rec = readBody(r, bodyDeadline(r, nil), limit, timeout)
		caddyhttp.SetVar(r.Context(), bodyVar, rec)
	}
	if rec.req == nil {
		return "", false
	}
	return rec.req.Type, true
}

// UnmarshalJSON accepts the list form and the object form.
func (m *MatchOp) UnmarshalJSON(b []byte) error {
	var list []string
	if json.Unmarshal(b, &list) == nil {
		*m = MatchOp{Operations: list}
		return nil
	}
	type plain MatchOp
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(m))
}

// MarshalJSON writes the list form when no option is set, so that adapted
// Caddyfiles stay as they were before the options existed.
func (m MatchOp) MarshalJSON() ([]byte, error) {
	if m.MaxRequestBody == 0 && m.ReadTimeout == 0 {
		if m.Operations == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(m.Operations)
	}
	type plain MatchOp
	return json.Marshal(plain(m))
}

// UnmarshalCaddyfile parses:
//
//	chatkit_op <operation…> {
//		max_request_body <bytes>
//		read_timeout     <duration>
//	}
func (m *MatchOp) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		m.Operations = append(m.Operations, args...)
		for d.NextBlock(0) {
			switch d.Val() {
			case "max_request_body":
				n, err := intArg(d)
				if err != nil {
					return err
				}
				m.MaxRequestBody = int64(n)
			case "read_timeout":
				dur, err := durationArg(d)
				if err != nil {
					return err
				}
				m.ReadTimeout = dur
			default:
				return d.Errf("unrecognized subdirective: %s", d.Val())
			}
		}
	}
	return nil
}

var (
	_ caddy.Provisioner                 = (*MatchOp)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchOp)(nil)
	_ caddyfile.Unmarshaler             = (*MatchOp)(nil)
	_ json.Unmarshaler                  = (*MatchOp)(nil)
)
