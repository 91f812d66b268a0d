package storage

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// A grant is what one authorization gave one client: the code, and every
// refresh and access token issued from it, share its id (the grant_id
// column), so that revoking the grant revokes all of them. This file holds
// the transaction RedeemCode (codes.go) and RotateRefresh (refresh.go)
// share.

// Issue names the tokens that a code redemption or a refresh-token rotation
// records for its grant: the access token (by jti) and the next refresh
// token (by hash), with the ends of their lives. The grant, client, user,
// session, scopes and auth_time come from the code or token being spent.
type Issue struct {
	AccessJTI      string
	AccessExpires  time.Time
	RefreshHash    string // empty: no refresh token
	RefreshExpires time.Time
	// RefreshScope, when set, records the refresh token only for a grant
	// whose scopes include it (offline_access, OpenID Connect Core §11).
	RefreshScope string
}

// refreshFor reports whether is issues a refresh token for g.
func (is Issue) refreshFor(scopes []string) bool {
	return is.RefreshHash != "" && (is.RefreshScope == "" || slices.Contains(scopes, is.RefreshScope))
}

// grant is what a code or a refresh token passes on to the tokens issued
// from it.
type grant struct {
	id, clientID, userID, sessionID string
	scopes                          []string
	authTime                        time.Time
}

// spendable is a code or refresh token as spend checks it.
type spendable struct {
	grant
	expires       time.Time
	used, revoked bool
}

// spend is the one transaction behind RedeemCode and RotateRefresh. It
// loads a single-use row under a lock (load), so concurrent spends of one
// row run one after the other; refuses it when it belongs to another client
// (ErrWrongClient, leaving it untouched, so another client cannot burn a
// code), when it was revoked (ErrRevoked), when it was spent before
// (ErrReused, after revoking every token of the grant: RFC 6749 §4.1.2 for
// codes, RFC 9700 §4.14 for refresh tokens) and when it has expired
// (ErrExpired); lets check refuse it without spending it; refuses a grant
// whose user is gone or banned (ErrUserBlocked); then marks it used (the
// statement markUsed, with now and key) and records the tokens of issue.
//
// A refusal commits (the revocation must stay), and is returned after the
// commit.
func (s *SQL) spend(ctx context.Context, clientID string, now time.Time, load func(*store.Tx) (*spendable, error),
	check func() error, markUsed, key string, issue Issue) (*User, error) {
	var u *User
	var refusal error
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		row, err := load(tx)
		if errors.Is(err, ErrNotFound) {
			refusal = err
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case row.clientID != clientID:
			refusal = ErrWrongClient
			return nil
		case row.revoked:
			refusal = ErrRevoked
			return nil
		case row.used:
			refusal = ErrReused
			return revokeGrant(ctx, tx, row.id, now)
		case !now.Before(row.expires):
			refusal = ErrExpired
			return nil
		}
		if check != nil {
			if refusal = check(); refusal != nil {
				return nil
			}
		}
		u, err = userByID(ctx, tx, row.userID)
		if errors.Is(err, ErrNotFound) || (err == nil && u.IsBanned(now)) {
			u, refusal = nil, ErrUserBlocked
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, markUsed, ms(now), key); err != nil {
			return err
		}
		return recordTokens(ctx, tx, row.grant, issue, now)
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, refusal
	}
	return u, nil
}

// recordTokens stores the access token and the refresh token of issue for
// grant g.
func recordTokens(ctx context.Context, tx *store.Tx, g grant, is Issue, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO oidc_access_tokens (jti, grant_id, client_id, user_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, is.AccessJTI, g.id, g.clientID, g.userID, ms(now), ms(is.AccessExpires)); err != nil {
		return err
	}
	if !is.refreshFor(g.scopes) {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO oidc_refresh_tokens (token_hash, grant_id, client_id, user_id, session_id, scope,
		auth_time, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, is.RefreshHash, g.id, g.clientID, g.userID,
		g.sessionID, joinScopes(g.scopes), ms(g.authTime), ms(now), ms(is.RefreshExpires))
	return err
}

// maxRevokeRounds bounds revokeGrant's loop; each round past the first
// needs a rotation that committed during the previous one.
const maxRevokeRounds = 16

// revokeGrant revokes every refresh and access token of a grant.
//
// On PostgreSQL a rotation of the family's live token may be in flight: its
// new refresh token is inserted after our UPDATE took its snapshot, so one
// UPDATE could miss it. The UPDATE waits for the rotation's row lock, so by
// the time it returns the rotation has committed; repeating it until it
// touches nothing catches the new token (and its access token, revoked
// after). A rotation that starts later locks a row we have revoked and is
// refused. On SQLite the transaction holds the write lock and the second
// round finds nothing.
func revokeGrant(ctx context.Context, tx *store.Tx, grantID string, now time.Time) error {
	return revokeTokens(ctx, tx, "grant_id = ?", "grant_id = ?", grantID, now)
}

// Conditions of revokeTokens, each with one argument.
const (
	byUser           = "user_id = ?"
	bySession        = "session_id = ?"
	bySessionsGrants = "grant_id IN (SELECT grant_id FROM oidc_refresh_tokens WHERE session_id = ?)"
)

// revokeTokens revokes the refresh tokens matching refreshWhere (repeated
// as revokeGrant explains) and the access tokens matching accessWhere (both
// constant conditions with one argument, arg), and records those access
// tokens in the revocation list, which carries them to bearer_jwt on every
// node.
func revokeTokens(ctx context.Context, tx *store.Tx, refreshWhere, accessWhere string, arg any, now time.Time) error {
	for range maxRevokeRounds {
		res, err := tx.Exec(ctx, "UPDATE oidc_refresh_tokens SET revoked_at = ? WHERE "+refreshWhere+" AND revoked_at IS NULL", ms(now), arg)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if err := recordAccessRevocations(ctx, tx, accessWhere, now, arg); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE oidc_access_tokens SET revoked_at = ? WHERE "+accessWhere+" AND revoked_at IS NULL", ms(now), arg)
	return err
}
