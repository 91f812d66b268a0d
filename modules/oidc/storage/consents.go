package storage

import (
	"context"
	"time"
)

// Consents are the scopes each user has granted each client (OpenID
// Connect Core §3.1.2.4), one row per user and client.
type Consents interface {
	// ConsentedScopes returns the scopes the user has granted the client,
	// or ErrNotFound when they never consented.
	ConsentedScopes(ctx context.Context, userID, clientID string) ([]string, error)

	// SaveConsent records that the user grants the client these scopes,
	// replacing an earlier consent.
	SaveConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error
}

// ConsentedScopes implements Consents.
func (s *SQL) ConsentedScopes(ctx context.Context, userID, clientID string) ([]string, error) {
	var scope string
	if err := s.db.QueryRow(ctx, "SELECT scope FROM oidc_consents WHERE user_id = ? AND client_id = ?", userID, clientID).Scan(&scope); err != nil {
		return nil, notFound(err)
	}
	return splitScopes(scope), nil
}

// SaveConsent implements Consents.
func (s *SQL) SaveConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO oidc_consents (user_id, client_id, scope, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at`,
		userID, clientID, joinScopes(scopes), ms(now), ms(now))
	return err
}
