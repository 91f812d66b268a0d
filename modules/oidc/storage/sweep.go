package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// expiring are the tables DeleteExpired sweeps, each with an expires_at.
var expiring = []string{"oidc_codes", "oidc_auth_requests", "oidc_access_tokens", "oidc_refresh_tokens", "sessions", "verifications", "oidc_revocations"}

// DeleteExpired implements Storage.
func (s *SQL) DeleteExpired(ctx context.Context, now time.Time) error {
	var errs []error
	for _, table := range expiring {
		if _, err := s.db.Exec(ctx, "DELETE FROM "+table+" WHERE expires_at < ?", ms(now)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("sweeping %s: %w", table, err))
		}
	}
	return errors.Join(errs...)
}
