package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Access tokens are signed JWTs (RFC 9068); the storage keeps their jti,
// recorded by RedeemCode and RotateRefresh, so that userinfo, introspection
// and revocation can refuse one before it expires.

// AccessTokens are the issued access tokens.
type AccessTokens interface {
	// AccessTokenActive reports whether an access token with this jti was
	// recorded and is neither revoked nor expired at now.
	AccessTokenActive(ctx context.Context, jti string, now time.Time) (bool, error)

	// RevokeAccessToken revokes one access token (RFC 7009 §2.1). An
	// unknown or already revoked jti is not an error.
	RevokeAccessToken(ctx context.Context, jti string, now time.Time) error
}

// AccessTokenActive implements AccessTokens.
func (s *SQL) AccessTokenActive(ctx context.Context, jti string, now time.Time) (bool, error) {
	var expires int64
	var revoked sql.NullInt64
	err := s.db.QueryRow(ctx, "SELECT expires_at, revoked_at FROM oidc_access_tokens WHERE jti = ?", jti).Scan(&expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !revoked.Valid && now.Before(fromMS(expires)), nil
}

// RevokeAccessToken implements AccessTokens.
func (s *SQL) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// The revocation list carries it to bearer_jwt on every node.
		if err := recordAccessRevocations(ctx, tx, "jti = ?", now, jti); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE oidc_access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", ms(now), jti)
		return err
	})
}
