package storage

import (
	"context"
	"database/sql"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// RefreshToken is an opaque refresh token, rotated on every use (RFC 9700
// §4.14): spending one records its successor in the same family (its
// grant), and presenting a spent one again revokes the family.
type RefreshToken struct {
	Hash      string // SHA-256 of the token, hex
	GrantID   string // the family
	ClientID  string
	UserID    string
	SessionID string
	Scopes    []string // of the original grant; every rotation keeps them
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until rotated
	RevokedAt time.Time // zero unless revoked
}

// RefreshTokens are the refresh-token families.
type RefreshTokens interface {
	// RotateRefresh spends the refresh token with this hash for clientID,
	// once: in one transaction, under a lock on the token, it refuses a
	// token that is unknown (ErrNotFound), issued to another client
	// (ErrWrongClient, RFC 6819 §5.2.2.2), revoked (ErrRevoked), already
	// rotated (ErrReused: the whole family is revoked, RFC 9700 §4.14) or
	// expired (ErrExpired); then check may refuse it (a scope beyond the
	// grant) with an error that is returned as is and leaves the token
	// unspent; a grant whose user is gone or banned is refused with
	// ErrUserBlocked. Otherwise the token is marked used and the tokens of
	// issue are recorded: the next refresh token inherits the family,
	// session, scopes and auth_time.
	//
	// It returns the presented token (with every error but ErrNotFound,
	// so a refusal can be audited) and, on success, its user.
	RotateRefresh(ctx context.Context, hash, clientID string, now time.Time, check func(*RefreshToken) error, issue Issue) (*RefreshToken, *User, error)

	// ActiveRefreshToken returns the token with this hash if it is neither
	// rotated, revoked nor expired at now (introspection, RFC 7662 §2.2),
	// or ErrNotFound.
	ActiveRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, error)

	// RevokeRefreshToken revokes the family of the token with this hash
	// and the access tokens issued from it (RFC 7009 §2.1), if the token
	// was issued to clientID, and returns the token. ErrNotFound for an
	// unknown token, ErrWrongClient (and nothing revoked) for another
	// client's.
	RevokeRefreshToken(ctx context.Context, hash, clientID string, now time.Time) (*RefreshToken, error)
}

const refreshColumns = `token_hash, grant_id, client_id, user_id, session_id, scope, auth_time, created_at, expires_at, used_at,
	revoked_at`

func scanRefresh(row scanner) (*RefreshToken, error) {
	var t RefreshToken
	var scope string
	var authTime, created, expires int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&t.Hash, &t.GrantID, &t.ClientID, &t.UserID, &t.SessionID, &scope, &authTime, &created, &expires,
		&used, &revoked); err != nil {
		return nil, notFound(err)
	}
	t.Scopes = splitScopes(scope)
	t.AuthTime, t.CreatedAt, t.ExpiresAt = fromMS(authTime), fromMS(created), fromMS(expires)
	t.UsedAt, t.RevokedAt = fromNullMS(used), fromNullMS(revoked)
	return &t, nil
}

func lockRefresh(ctx context.Context, tx *store.Tx, hash string) (*RefreshToken, error) {
	return scanRefresh(tx.QueryRow(ctx, "SELECT "+refreshColumns+" FROM oidc_refresh_tokens WHERE token_hash = ?"+forUpdate(tx), hash))
}

// RotateRefresh implements RefreshTokens.
func (s *SQL) RotateRefresh(ctx context.Context, hash, clientID string, now time.Time, check func(*RefreshToken) error, issue Issue) (*RefreshToken, *User, error) {
	var token *RefreshToken
	load := func(tx *store.Tx) (*spendable, error) {
		t, err := lockRefresh(ctx, tx, hash)
		if err != nil {
			return nil, err
		}
		token = t
		return &spendable{
			grant:   grant{id: t.GrantID, clientID: t.ClientID, userID: t.UserID, sessionID: t.SessionID, scopes: t.Scopes, authTime: t.AuthTime},
			expires: t.ExpiresAt, used: !t.UsedAt.IsZero(), revoked: !t.RevokedAt.IsZero(),
		}, nil
	}
	var checkToken func() error
	if check != nil {
		checkToken = func() error { return check(token) }
	}
	u, err := s.spend(ctx, clientID, now, load, checkToken, "UPDATE oidc_refresh_tokens SET used_at = ? WHERE token_hash = ?", hash, issue)
	if err == nil {
		token.UsedAt = now
	}
	return token, u, err
}

// ActiveRefreshToken implements RefreshTokens.
func (s *SQL) ActiveRefreshToken(ctx context.Context, hash string, now time.Time) (*RefreshToken, error) {
	t, err := scanRefresh(s.db.QueryRow(ctx, "SELECT "+refreshColumns+" FROM oidc_refresh_tokens WHERE token_hash = ?", hash))
	if err != nil {
		return nil, err
	}
	if !t.UsedAt.IsZero() || !t.RevokedAt.IsZero() || !now.Before(t.ExpiresAt) {
		return nil, ErrNotFound
	}
	return t, nil
}

// RevokeRefreshToken implements RefreshTokens.
func (s *SQL) RevokeRefreshToken(ctx context.Context, hash, clientID string, now time.Time) (*RefreshToken, error) {
	var token *RefreshToken
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := lockRefresh(ctx, tx, hash)
		if err != nil {
			return err
		}
		if t.ClientID != clientID {
			return ErrWrongClient
		}
		token = t
		return revokeGrant(ctx, tx, t.GrantID, now)
	})
	if err != nil {
		return nil, err
	}
	token.RevokedAt = now
	return token, nil
}
