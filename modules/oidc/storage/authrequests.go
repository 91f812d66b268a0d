package storage

import (
	"context"
	"time"
)

// AuthRequest is an authorization request (RFC 6749 §4.1.1, OpenID Connect
// Core §3.1.2.1) waiting while the user signs in or consents: the hosted
// pages carry only its id. Params is the validated request as the provider
// encodes it; the storage does not read it.
type AuthRequest struct {
	ID        string
	ClientID  string
	Params    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRequests are the pending authorization requests.
type AuthRequests interface {
	// CreateAuthRequest stores a request under the id the caller chose.
	CreateAuthRequest(ctx context.Context, r AuthRequest) error

	// AuthRequest returns the request with this id if it has not expired
	// by now, or ErrNotFound.
	AuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)

	// DeleteAuthRequest deletes a request once it is answered (a code, a
	// refusal). Deleting a missing request is not an error.
	DeleteAuthRequest(ctx context.Context, id string) error
}

// CreateAuthRequest implements AuthRequests.
func (s *SQL) CreateAuthRequest(ctx context.Context, r AuthRequest) error {
	_, err := s.db.Exec(ctx, "INSERT INTO oidc_auth_requests (id, client_id, params, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		r.ID, r.ClientID, r.Params, ms(r.CreatedAt), ms(r.ExpiresAt))
	return err
}

// AuthRequest implements AuthRequests.
func (s *SQL) AuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error) {
	r := AuthRequest{ID: id}
	var created, expires int64
	if err := s.db.QueryRow(ctx, "SELECT client_id, params, created_at, expires_at FROM oidc_auth_requests WHERE id = ?", id).
		Scan(&r.ClientID, &r.Params, &created, &expires); err != nil {
		return nil, notFound(err)
	}
	r.CreatedAt, r.ExpiresAt = fromMS(created), fromMS(expires)
	if !now.Before(r.ExpiresAt) {
		return nil, ErrNotFound
	}
	return &r, nil
}

// DeleteAuthRequest implements AuthRequests.
func (s *SQL) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM oidc_auth_requests WHERE id = ?", id)
	return err
}
