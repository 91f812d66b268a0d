package storage

import (
	"context"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Revocation kinds: what a row of oidc_revocations names.
const (
	RevokedToken   = "jti" // one access token, by its jti
	RevokedSession = "sid" // every token of a sign-in session (the sid claim)
	RevokedUser    = "sub" // every token of a user issued before At
)

// Revocation is a row of the compact revocation list that bearer_jwt
// checks on every node: revoking an access token, a grant, a session or a
// user's tokens records one (in the same transaction as the revocation
// itself), and each provider polls for the new ones (RevocationsSince).
type Revocation struct {
	Kind      string // RevokedToken, RevokedSession or RevokedUser
	Value     string // the jti, session id or user id
	At        time.Time
	ExpiresAt time.Time // when every token it can name has expired
}

// Revocations are the revocation list.
type Revocations interface {
	// RevocationsSince returns the revocations recorded at or after since
	// that have not expired by now.
	RevocationsSince(ctx context.Context, since, now time.Time) ([]Revocation, error)

	// RevokeUserTokens revokes every refresh token and access token of the
	// user, and records a user-level revocation (expiring at expires, the
	// longest access-token life from now), so that bearer_jwt refuses
	// every token of the user issued before now. For a ban, a password
	// reset or "sign out everywhere".
	RevokeUserTokens(ctx context.Context, userID string, now, expires time.Time) error

	// RevokeSessionTokens revokes the refresh-token families and access
	// tokens issued in the sign-in session, and records a session-level
	// revocation (tokens with this sid), expiring at expires. For sign-out
	// and end-session.
	RevokeSessionTokens(ctx context.Context, sessionID string, now, expires time.Time) error
}

// RevocationsSince implements Revocations.
func (s *SQL) RevocationsSince(ctx context.Context, since, now time.Time) ([]Revocation, error) {
	rows, err := s.db.Query(ctx, "SELECT kind, value, revoked_at, expires_at FROM oidc_revocations WHERE revoked_at >= ? AND expires_at > ?",
		ms(since), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var at, exp int64
		if err := rows.Scan(&r.Kind, &r.Value, &at, &exp); err != nil {
			return nil, err
		}
		r.At, r.ExpiresAt = fromMS(at), fromMS(exp)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RevokeUserTokens implements Revocations.
func (s *SQL) RevokeUserTokens(ctx context.Context, userID string, now, expires time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := revokeTokens(ctx, tx, byUser, byUser, userID, now); err != nil {
			return err
		}
		return upsertRevocation(ctx, tx, Revocation{Kind: RevokedUser, Value: userID, At: now, ExpiresAt: expires})
	})
}

// RevokeSessionTokens implements Revocations.
func (s *SQL) RevokeSessionTokens(ctx context.Context, sessionID string, now, expires time.Time) error {
	if sessionID == "" {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := revokeTokens(ctx, tx, bySession, bySessionsGrants, sessionID, now); err != nil {
			return err
		}
		return upsertRevocation(ctx, tx, Revocation{Kind: RevokedSession, Value: sessionID, At: now, ExpiresAt: expires})
	})
}

// recordAccessRevocations adds a jti row for each live access token
// matching where (a condition on oidc_access_tokens with one argument),
// before the caller marks them revoked.
func recordAccessRevocations(ctx context.Context, q querier, where string, now time.Time, arg any) error {
	_, err := q.Exec(ctx, `INSERT INTO oidc_revocations (kind, value, revoked_at, expires_at)
		SELECT '`+RevokedToken+`', jti, ?, expires_at FROM oidc_access_tokens WHERE `+where+` AND revoked_at IS NULL AND expires_at > ?
		ON CONFLICT (kind, value) DO NOTHING`, ms(now), arg, ms(now))
	return err
}

// upsertRevocation records r; a newer revocation of the same user or
// session replaces the older.
func upsertRevocation(ctx context.Context, q querier, r Revocation) error {
	_, err := q.Exec(ctx, `INSERT INTO oidc_revocations (kind, value, revoked_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, value) DO UPDATE SET revoked_at = excluded.revoked_at, expires_at = excluded.expires_at`,
		r.Kind, r.Value, ms(r.At), ms(r.ExpiresAt))
	return err
}
