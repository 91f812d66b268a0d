package oidc

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func TestSweepDeletesOnlyExpiredRows(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		p := &provider{openStorage: func(context.Context) (storage.Storage, error) { return storage.New(db), nil },
			now: func() time.Time { return now }, logger: zap.NewNop()}
		ms := now.UnixMilli()
		for i, exp := range []int64{ms - 1, ms + 60_000} {
			id := []string{"old", "new"}[i]
			for _, q := range []string{
				"INSERT INTO oidc_codes (code_hash, grant_id, client_id, user_id, session_id, redirect_uri, scope, auth_time, created_at, expires_at) VALUES (?, 'g', 'c', 'u', 's', '', 'openid', 0, 0, ?)",
				"INSERT INTO oidc_auth_requests (id, client_id, params, created_at, expires_at) VALUES (?, 'c', '{}', 0, ?)",
				"INSERT INTO oidc_access_tokens (jti, grant_id, client_id, user_id, created_at, expires_at) VALUES (?, 'g', 'c', 'u', 0, ?)",
				"INSERT INTO oidc_refresh_tokens (token_hash, grant_id, client_id, user_id, session_id, scope, auth_time, created_at, expires_at, used_at) VALUES (?, 'g', 'c', 'u', 's', 'openid', 0, 0, ?, 1)",
			} {
				if _, err := db.Exec(ctx, q, id, exp); err != nil {
					t.Fatal(err)
				}
			}
		}
		p.sweepOnce(ctx)
		for _, table := range []string{"oidc_codes", "oidc_auth_requests", "oidc_access_tokens", "oidc_refresh_tokens"} {
			var n int
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s: %d rows after the sweep (%v), want 1", table, n, err)
			}
		}
	})
}
