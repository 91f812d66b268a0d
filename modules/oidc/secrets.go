package oidc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// randomToken returns n random bytes, base64url without padding. Codes and
// tokens use 32 bytes (256 bits), far above the 128 bits RFC 6819
// §5.1.4.2.2 asks for (and RFC 6749 §10.10).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how a code or token is stored and looked up: hex SHA-256. A
// database leak then yields nothing usable, and lookups by hash take the
// timing of the comparison out of the secret (RFC 6819 §5.1.4.1.3).
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
