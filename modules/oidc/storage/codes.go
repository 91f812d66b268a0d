package storage

import (
	"context"
	"database/sql"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Code is an authorization code (RFC 6749 §4.1.2): single use, short-lived,
// bound to the client, the redirect URI and the PKCE challenge (RFC 7636).
type Code struct {
	Hash          string // SHA-256 of the code, hex
	GrantID       string // given by CreateCode when empty
	ClientID      string
	UserID        string
	SessionID     string
	RedirectURI   string // as the authorization request named it; "" when it named none
	Scopes        []string
	Nonce         string
	CodeChallenge string // S256 challenge; "" without PKCE
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time // zero until redeemed
}

// Codes are the authorization codes.
type Codes interface {
	// CreateCode stores a new code.
	CreateCode(ctx context.Context, c Code) error

	// RedeemCode spends the code with this hash for clientID, once: in one
	// transaction, under a lock on the code, it refuses a code that is
	// unknown (ErrNotFound), issued to another client (ErrWrongClient),
	// already redeemed (ErrReused: every token issued from the first
	// redemption is revoked, RFC 6749 §4.1.2) or expired (ErrExpired); then
	// check may refuse it (redirect URI, PKCE verifier) with an error that
	// is returned as is and leaves the code unspent; a grant whose user is
	// gone or banned is refused with ErrUserBlocked. Otherwise the code is
	// marked used and the tokens of issue are recorded for its grant.
	//
	// It returns the code (with every error but ErrNotFound, so a refusal
	// can be audited) and, on success, its user.
	RedeemCode(ctx context.Context, hash, clientID string, now time.Time, check func(*Code) error, issue Issue) (*Code, *User, error)
}

const codeColumns = `code_hash, grant_id, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge,
	auth_time, created_at, expires_at, used_at`

func scanCode(row scanner) (*Code, error) {
	var c Code
	var scope string
	var authTime, created, expires int64
	var used sql.NullInt64
	if err := row.Scan(&c.Hash, &c.GrantID, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &scope, &c.Nonce,
		&c.CodeChallenge, &authTime, &created, &expires, &used); err != nil {
		return nil, notFound(err)
	}
	c.Scopes = splitScopes(scope)
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMS(authTime), fromMS(created), fromMS(expires), fromNullMS(used)
	return &c, nil
}

// CreateCode implements Codes.
func (s *SQL) CreateCode(ctx context.Context, c Code) error {
	if c.GrantID == "" {
		c.GrantID = NewID()
	}
	_, err := s.db.Exec(ctx, `INSERT INTO oidc_codes (code_hash, grant_id, client_id, user_id, session_id, redirect_uri, scope, nonce,
		code_challenge, auth_time, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.GrantID, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, joinScopes(c.Scopes), c.Nonce,
		c.CodeChallenge, ms(c.AuthTime), ms(c.CreatedAt), ms(c.ExpiresAt))
	return err
}

// RedeemCode implements Codes.
func (s *SQL) RedeemCode(ctx context.Context, hash, clientID string, now time.Time, check func(*Code) error, issue Issue) (*Code, *User, error) {
	var code *Code
	load := func(tx *store.Tx) (*spendable, error) {
		c, err := scanCode(tx.QueryRow(ctx, "SELECT "+codeColumns+" FROM oidc_codes WHERE code_hash = ?"+forUpdate(tx), hash))
		if err != nil {
			return nil, err
		}
		code = c
		return &spendable{
			grant:   grant{id: c.GrantID, clientID: c.ClientID, userID: c.UserID, sessionID: c.SessionID, scopes: c.Scopes, authTime: c.AuthTime},
			expires: c.ExpiresAt, used: !c.UsedAt.IsZero(),
		}, nil
	}
	var checkCode func() error
	if check != nil {
		checkCode = func() error { return check(code) }
	}
	u, err := s.spend(ctx, clientID, now, load, checkCode, "UPDATE oidc_codes SET used_at = ? WHERE code_hash = ?", hash, issue)
	if err == nil {
		code.UsedAt = now
	}
	return code, u, err
}
