package oidc

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ringOn(db *store.DB, clock *fakeClock, seal []byte) *keyring {
	return newKeyring(keyringConfig{
		alg: jwa.ES256, rotation: 30 * 24 * time.Hour, lead: 24 * time.Hour, retain: 7 * time.Hour,
		storage: func(context.Context) (storage.Keys, error) { return storage.New(db), nil },
		sealKey: func() ([]byte, error) { return seal, nil },
		now:     clock.now, logger: zap.NewNop(),
	})
}

func kids(keys []*signingKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.kid)
	}
	return out
}

// TestKeyRotation walks a key's life with an injected clock on both
// databases, with two nodes (two keyrings) sharing the table: one first key
// for everyone, the successor published a day before it signs and created
// once even when both nodes race, the old key published until its tokens
// expire, private keys sealed at rest.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		seal := make([]byte, 32)
		copy(seal, "0123456789abcdef0123456789abcdef")
		clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		node1, node2 := ringOn(db, clock, seal), ringOn(db, clock, seal)

		a, err := node1.signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := node2.signer(ctx); err != nil || b.kid != a.kid {
			t.Fatalf("node 2 signs with %v (%v), want the shared key %s", b, err, a.kid)
		}
		var sealed string
		_ = db.QueryRow(ctx, "SELECT private_key FROM oidc_signing_keys WHERE kid = ?", a.kid).Scan(&sealed)
		if strings.Contains(sealed, "PRIVATE") || len(sealed) < 64 {
			t.Fatalf("private key not sealed: %q", sealed)
		}
		if _, err := openPrivateKey(make([]byte, 32), a.kid, sealed); err == nil {
			t.Fatal("sealed key opened with a wrong key")
		}
		tokA, _, err := node1.sign(ctx, "JWT", []byte(`{"sub":"x"}`))
		if err != nil {
			t.Fatal(err)
		}

		// A day minus a minute before A stops signing, both nodes race to
		// create the successor: exactly one is created, published at once,
		// and it does not sign yet.
		clock.add(a.signUntil.Sub(clock.now()) - 24*time.Hour + time.Minute)
		var wg sync.WaitGroup
		for _, n := range []*keyring{ringOn(db, clock, seal), ringOn(db, clock, seal), node1, node2} {
			wg.Add(1)
			go func() { defer wg.Done(); _, _, _ = n.published(ctx) }()
		}
		wg.Wait()
		var n int
		_ = db.QueryRow(ctx, "SELECT COUNT(*) FROM oidc_signing_keys").Scan(&n)
		if n != 2 {
			t.Fatalf("%d keys after the race, want 2", n)
		}
		pub, jwks, _ := node2.published(ctx)
		if len(pub) != 2 || !strings.Contains(string(jwks), pub[1].kid) {
			t.Fatalf("successor not published: %v", kids(pub))
		}
		b := pub[1]
		if s, _ := node1.signer(ctx); s.kid != a.kid || !b.signFrom.Equal(a.signUntil) {
			t.Fatalf("signer %s, successor signs from %v (want %v)", s.kid, b.signFrom, a.signUntil)
		}

		// After A's window, B signs; A stays published so its tokens verify.
		clock.add(25 * time.Hour)
		if s, _ := node2.signer(ctx); s.kid != b.kid {
			t.Fatalf("signer after rotation %s, want %s", s.kid, b.kid)
		}
		if _, _, err := node2.verify(ctx, tokA); err != nil {
			t.Fatalf("token of the previous key no longer verifies: %v", err)
		}
		// Once every token A signed has expired, A is gone.
		clock.add(a.publishUntil.Sub(clock.now()) + time.Minute)
		pub, _, _ = node1.published(ctx)
		if len(pub) != 1 || pub[0].kid != b.kid {
			t.Fatalf("published after A's retention: %v", kids(pub))
		}
		if _, _, err := node1.verify(ctx, tokA); err == nil {
			t.Fatal("token of a retired key still verifies")
		}

		// A node with another secret neither signs nor creates a rival key.
		wrong := ringOn(db, clock, make([]byte, 32))
		if _, err := wrong.signer(ctx); err == nil {
			t.Fatal("a node with a wrong secret got a signer")
		}
		_ = db.QueryRow(ctx, "SELECT COUNT(*) FROM oidc_signing_keys").Scan(&n)
		if n != 1 {
			t.Fatalf("%d keys after a wrong-secret node started, want 1", n)
		}
	})
}
