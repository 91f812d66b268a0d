package store

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// minSecretLength keeps operators from configuring a guessable secret.
const minSecretLength = 16

// secretSource yields the master secret: the configured one, or for a
// single-node SQLite install without one, a random secret created once in the
// data directory (created in Start, not Provision, so `caddy validate` writes
// nothing).
type secretSource struct {
	configured string
	dir        string

	mu    sync.Mutex
	value []byte
}

func newSecretSource(configured, dir string) *secretSource {
	return &secretSource{configured: configured, dir: dir}
}

func (s *secretSource) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value != nil {
		return nil
	}
	if s.configured != "" {
		s.value = []byte(s.configured)
		return nil
	}
	path := filepath.Join(s.dir, "intellistack", "secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= minSecretLength {
		s.value = []byte(strings.TrimSpace(string(b)))
		return nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret: creating %s: %v", filepath.Dir(path), unwrapPathError(err))
	}
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		return fmt.Errorf("secret: writing %s: %v", path, unwrapPathError(err))
	}
	s.value = []byte(value)
	return nil
}

// DeriveKey returns a 32-byte key for one purpose (such as
// "oidc.signing-keys"), derived from the master secret with HKDF-SHA256, so
// modules never share key material and the secret itself never leaves the
// app. It fails until the app has started.
func (a *App) DeriveKey(purpose string) ([]byte, error) {
	if a.secret == nil {
		return nil, errors.New("intellistack app is not provisioned")
	}
	a.secret.mu.Lock()
	master := a.secret.value
	a.secret.mu.Unlock()
	if master == nil {
		return nil, ErrNotReady
	}
	return hkdf.Key(sha256.New, master, []byte("intellistack"), purpose, 32)
}
