package oidc

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// linkedAccount is one row of the linked accounts page.
type linkedAccount struct {
	Provider, AccountID, Label, Since string
	Configured                        bool // the upstream is still in the config
}

// handleLinkedAccounts shows the signed-in user's upstream identities with
// an unlink button each (GET), buttons to link the configured upstreams not
// linked yet, and unlinks one (POST) unless it is the last way to sign in.
func (p *provider) handleLinkedAccounts(w http.ResponseWriter, r *http.Request) {
	st, form, ok := p.pageInput(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sess, err := p.currentSession(ctx, st, r)
	var user *storage.User
	if err == nil && sess != nil {
		user, err = st.UserByID(ctx, sess.UserID)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.logger.Error("linked accounts", zap.Error(err))
		p.errorPage(w, errStorage(err, "session lookup failed"))
		return
	}
	if user == nil {
		p.render(w, http.StatusUnauthorized, "message", map[string]any{"Title": "Sign in first",
			"Message": "Sign in to see your linked accounts.", "Link": p.url(pathSignIn), "LinkText": "Sign in"})
		return
	}
	show := func(status int, msg, notice string) {
		accounts, err := st.LinkedAccounts(ctx, user.ID)
		if err != nil {
			p.logger.Error("linked accounts", zap.Error(err))
			p.errorPage(w, errStorage(err, "could not list the accounts"))
			return
		}
		hasPassword, err := st.HasPassword(ctx, user.ID)
		if err != nil {
			p.logger.Error("linked accounts", zap.Error(err))
			p.errorPage(w, errStorage(err, "could not list the accounts"))
			return
		}
		csrf, err := p.csrfToken(w, r, "linked-accounts", "")
		if err != nil {
			p.errorPage(w, errServer("not ready"))
			return
		}
		var rows []linkedAccount
		linked := map[string]bool{}
		for _, a := range accounts {
			row := linkedAccount{Provider: a.ProviderID, AccountID: a.AccountID, Label: a.ProviderID, Since: a.CreatedAt.UTC().Format("2 Jan 2006")}
			if u := p.upstream(a.ProviderID); u != nil {
				row.Label, row.Configured = u.label, true
			}
			rows = append(rows, row)
			linked[a.ProviderID] = true
		}
		var link []upstreamButton
		for _, b := range p.upstreamButtons("", "") {
			if !linked[b.Name] {
				b.URL += "?link=1"
				link = append(link, b)
			}
		}
		p.render(w, status, "linked-accounts", map[string]any{"Title": "Linked accounts", "Email": user.Email,
			"Accounts": rows, "Link": link, "HasPassword": hasPassword, "CanUnlink": hasPassword || len(rows) > 1,
			"Action": p.url(pathLinkedAccounts), "CSRF": csrf, "Error": msg, "Notice": notice})
	}
	if r.Method == http.MethodGet {
		show(http.StatusOK, "", "")
		return
	}
	if !p.checkCSRF(r, form, "linked-accounts", "") {
		p.forbidden(w)
		return
	}
	provider, accountID := form.Get("provider"), form.Get("account_id")
	err = st.UnlinkAccount(ctx, user.ID, provider, accountID)
	detail := safeName(provider) + ": "
	switch {
	case err == nil:
		p.record(r, storage.Event{Event: evUpstreamUnlink, Outcome: "success", UserID: user.ID, Email: user.Email, Detail: detail + "unlinked"})
		show(http.StatusOK, "", "Unlinked.")
	case errors.Is(err, storage.ErrLastAccount):
		p.record(r, storage.Event{Event: evUpstreamUnlink, Outcome: "failure", UserID: user.ID, Email: user.Email, Detail: detail + "last way to sign in"})
		show(http.StatusConflict, "This is your only way to sign in, so it cannot be unlinked.", "")
	case errors.Is(err, storage.ErrNotFound):
		p.record(r, storage.Event{Event: evUpstreamUnlink, Outcome: "failure", UserID: user.ID, Email: user.Email, Detail: detail + "not linked"})
		show(http.StatusNotFound, "This account is not linked.", "")
	default:
		p.logger.Error("unlinking", zap.Error(err))
		p.errorPage(w, errStorage(err, "could not unlink the account"))
	}
}

// errNotFoundUpstream answers /oauth2/upstream/<name> for a name not in the
// config.
func errNotFoundUpstream() *apierror.OAuth {
	return apierror.NewOAuth(http.StatusNotFound, "not_found", "no such sign-in provider on this site")
}
