package chatkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

func init() {
	caddy.RegisterModule(MatchOp{})
}

// matchPrefix is how much of the body the matcher reads. The official client
// puts "type" first, so a few bytes would do; 64 KiB leaves room for clients
// that send params first while keeping the matcher's memory bounded.
const matchPrefix = 64 << 10

// opVar caches the parsed operation on the request, so that several
// matchers (and handlers) on one request read the body once.
const opVar = "chatkit_op"

// MatchOp matches ChatKit requests by operation, the body's top-level
// "type", so that a Caddyfile can rate-limit only the operations that send
// messages:
//
//	@send chatkit_op threads.create threads.add_user_message threads.retry_after_item
//	request_quota @send { … }
//
// It reads at most the first 64 KiB of the body and puts them back, so the
// handler still sees the whole body. A body whose type cannot be found in
// that prefix does not match.
type MatchOp []string

// CaddyModule returns the Caddy module information.
func (MatchOp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.chatkit_op",
		New: func() caddy.Module { return new(MatchOp) },
	}
}

// Provision checks the operation names, so a typo fails the config load
// instead of silently never matching.
func (m MatchOp) Provision(caddy.Context) error {
	if len(m) == 0 {
		return fmt.Errorf("chatkit_op needs at least one operation")
	}
	for _, op := range m {
		if !protocol.IsOperation(op) {
			return fmt.Errorf("chatkit_op: unknown operation %q", op)
		}
	}
	return nil
}

// Match implements caddyhttp.RequestMatcher.
func (m MatchOp) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError implements caddyhttp.RequestMatcherWithError.
func (m MatchOp) MatchWithError(r *http.Request) (bool, error) {
	op := requestOp(r)
	for _, want := range m {
		if op == want {
			return true, nil
		}
	}
	return false, nil
}

// requestOp finds the operation of a POST, peeking at the body prefix.
func requestOp(r *http.Request) string {
	if v, ok := caddyhttp.GetVar(r.Context(), opVar).(string); ok {
		return v
	}
	op := ""
	if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody {
		prefix, err := io.ReadAll(io.LimitReader(r.Body, matchPrefix))
		// Put back what was read, even after a read error, so the handler
		// sees the same bytes (and the same error) it would have.
		r.Body = restoredBody{io.MultiReader(bytes.NewReader(prefix), r.Body), r.Body}
		if err == nil {
			op = topLevelType(prefix)
		}
	}
	caddyhttp.SetVar(r.Context(), opVar, op)
	return op
}

type restoredBody struct {
	io.Reader
	io.Closer
}

// topLevelType returns the string value of the object's top-level "type"
// key, reading tokens only as far as needed ("" when absent, truncated
// before it, or not a string).
func topLevelType(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if key, _ := k.(string); key == "type" {
			v, err := dec.Token()
			if err != nil {
				return ""
			}
			s, _ := v.(string)
			return s
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// UnmarshalCaddyfile parses:
//
//	chatkit_op <operation…>
func (m *MatchOp) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*m = append(*m, args...)
		if d.NextBlock(0) {
			return d.Err("chatkit_op takes no block")
		}
	}
	return nil
}

var (
	_ caddy.Provisioner                 = MatchOp{}
	_ caddyhttp.RequestMatcherWithError = MatchOp{}
	_ caddyfile.Unmarshaler             = (*MatchOp)(nil)
)
