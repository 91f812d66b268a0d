package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// Many concurrent SessionWithUser calls (on PostgreSQL they share
// queries): each gets its own session and user, never another's; a
// missing or expired session is not found; two calls for one session get
// equal answers that do not share memory.
func TestSessionWithUserConcurrent(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s storage.Storage, db *store.DB) {
		ctx := context.Background()
		const users = 12
		for i := 0; i < users; i++ {
			u := newUser(t, s, fmt.Sprintf("poll%d@example.com", i))
			expires := t0.Add(time.Hour)
			if i%4 == 3 {
				expires = t0.Add(-time.Minute) // expired
			}
			if _, err := s.CreateSession(ctx, fmt.Sprintf("hash-%d", i), storage.Session{UserID: u.ID, AuthTime: t0,
				ExpiresAt: expires, IP: fmt.Sprintf("10.0.0.%d", i), CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 24; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 40; k++ {
					i := (g + k) % (users + 2) // users and users+1 have no session
					sess, u, err := s.SessionWithUser(ctx, fmt.Sprintf("hash-%d", i), t0)
					switch {
					case i >= users || i%4 == 3:
						if !errors.Is(err, storage.ErrNotFound) {
							errs <- fmt.Errorf("hash-%d: got %v, %v, want not found", i, sess, err)
							return
						}
					case err != nil:
						errs <- fmt.Errorf("hash-%d: %v", i, err)
						return
					case u.Email != fmt.Sprintf("poll%d@example.com", i) || sess.UserID != u.ID || sess.IP != fmt.Sprintf("10.0.0.%d", i):
						errs <- fmt.Errorf("hash-%d answered with %s's session %+v", i, u.Email, sess)
						return
					default:
						// Callers change what they get (get-session extends
						// the expiry); concurrent callers must not see it.
						sess.ExpiresAt = sess.ExpiresAt.Add(time.Hour)
						u.Name = "changed by its caller"
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		sess, u, err := s.SessionWithUser(ctx, "hash-0", t0)
		if err != nil || !sess.ExpiresAt.Equal(t0.Add(time.Hour)) || u.Name != "Test poll0@example.com" {
			t.Fatalf("after the concurrent calls: %+v, %+v, %v", sess, u, err)
		}
	})
}
