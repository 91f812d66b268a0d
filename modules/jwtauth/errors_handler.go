package jwtauth

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/intellistack/intellistack/internal/apierror"
)

func init() {
	caddy.RegisterModule(ErrorWriter{})
}

// ErrorWriter answers bearer_jwt refusals with the right status and a JSON
// body. Caddy's authentication handler can only fail with an empty 401
// ("not authenticated"); placed right before it (the bearer_jwt directive
// does that), this handler sees that error, finds why the bearer_jwt
// provider refused, and writes 401 (invalid token), 403 (role or verified
// email missing) or 503 (no signing keys yet) itself, with the platform's
// error envelope (internal/apierror)
//
//	{"error": {"code": "invalid_token", "message": "…", "reason": "expired"}}
//
// plus the WWW-Authenticate challenge (401/403) or Retry-After (503), and
// returns nil: handle_errors does not see these. Other errors (another
// provider's 401, errors of later handlers) pass through untouched, so
// handle_errors still sees them.
type ErrorWriter struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (ErrorWriter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bearer_jwt_errors",
		New: func() caddy.Module { return new(ErrorWriter) },
	}
}

// Provision sets up the logger.
func (e *ErrorWriter) Provision(ctx caddy.Context) error {
	e.logger = ctx.Logger()
	return nil
}

// ServeHTTP runs the rest of the chain and answers a bearer_jwt refusal.
func (e *ErrorWriter) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	err := next.ServeHTTP(w, r)
	if err == nil {
		return nil
	}
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		return err
	}
	rec, ok := caddyhttp.GetVar(r.Context(), refusalVar).(*refusalRecord)
	if !ok {
		return err
	}
	caddyhttp.SetVar(r.Context(), refusalVar, nil) // answered; an outer bearer_jwt must not answer again
	if c := e.logger.Check(zapcore.DebugLevel, "answering bearer_jwt refusal"); c != nil {
		c.Write(zap.Int("status", rec.Status), zap.String("reason", rec.Reason))
	}
	apierror.DrainBody(w, r)
	rec.Write(w, rec.retryAfter)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ErrorWriter)(nil)
	_ caddyhttp.MiddlewareHandler = (*ErrorWriter)(nil)
)
