package storage

import (
	"crypto/rand"
	"strings"
)

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewID returns a 32-character alphanumeric id, the shape Better-Auth uses
// for users, sessions and accounts. The storage gives one to every row it
// creates without an id from the caller.
func NewID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)] // 256 % 62 bias is irrelevant for ids
	}
	return string(b)
}

// Scopes are stored space-separated, as OAuth writes them (RFC 6749 §3.3).

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

func splitScopes(s string) []string { return strings.Fields(s) }
