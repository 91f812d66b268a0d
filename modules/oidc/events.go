package oidc

import (
	"context"
	"net/http"

	"go.uber.org/zap"
)

// Audit events written to auth_events.
const (
	evSignUp       = "sign_up"
	evSignIn       = "sign_in"
	evSignOut      = "sign_out"
	evTokenIssued  = "token_issued"
	evTokenRefresh = "token_refreshed"
	evRefreshReuse = "refresh_token_reuse"
	evCodeReuse    = "authorization_code_reuse"
	evRevoked      = "token_revoked"
)

// authEvent is one audit row.
type authEvent struct {
	Event, Outcome, UserID, Email, ClientID, Detail string
}

// record writes an audit row. It never fails the request: an audit failure
// is logged at Error instead. Detail must hold no secret.
func (p *provider) record(r *http.Request, e authEvent) {
	ctx := context.WithoutCancel(r.Context())
	db, err := p.database(ctx)
	if err == nil {
		ua := r.UserAgent()
		if len(ua) > 512 {
			ua = ua[:512]
		}
		_, err = db.Exec(ctx, `INSERT INTO auth_events (id, created_at, event, outcome, user_id, email, client_id, ip, user_agent, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, newID(), p.now().UnixMilli(), e.Event, e.Outcome, e.UserID, e.Email,
			e.ClientID, p.requestIP(r), ua, e.Detail)
	}
	if err != nil {
		p.logger.Error("writing auth event", zap.String("event", e.Event), zap.Error(err))
	}
}
