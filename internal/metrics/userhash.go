package metrics

import (
	"crypto/sha256"
	"encoding/hex"

	"go.uber.org/zap"
)

// UserHash is how a user appears in an access-style log line: the first 16
// hex digits of SHA-256 of the user id. Lines of one user can be followed
// and joined across modules (every module hashes the same way) without the
// log naming the account.
func UserHash(userID string) string {
	if userID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(sum[:8])
}

// UserField is the zap field "user" holding UserHash(userID).
func UserField(userID string) zap.Field { return zap.String("user", UserHash(userID)) }
