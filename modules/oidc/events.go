package oidc

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/storage"
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

	evVerifySent      = "email_verification_sent"
	evEmailVerified   = "email_verified"
	evResetRequested  = "password_reset_requested"
	evPasswordReset   = "password_reset"
	evPasswordChanged = "password_changed"
	evAccountExists   = "account_exists_notice_sent"
)

// record writes an audit row for e, stamped with the time, the client IP
// and the user agent of r. It never fails the request: an audit failure
// is logged at Error instead. Detail must hold no secret. It is also where
// the metrics count sign-ins, tokens and refresh reuse, and where the "auth
// event" log line is written (metrics.go).
func (p *provider) record(r *http.Request, e storage.Event) {
	ctx := context.WithoutCancel(r.Context())
	e.CreatedAt, e.IP, e.UserAgent = p.now(), p.requestIP(r), r.UserAgent()
	if len(e.UserAgent) > 512 {
		e.UserAgent = e.UserAgent[:512]
	}
	f := authFacts(e)
	f.count()
	p.logAuthEvent(e, f)
	st, err := p.storage(ctx)
	if err == nil {
		err = st.RecordEvent(ctx, e)
	}
	if err != nil {
		p.logger.Error("writing auth event", zap.String("event", e.Event), zap.Error(err))
	}
}
