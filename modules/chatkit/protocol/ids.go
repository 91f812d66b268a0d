package protocol

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns prefix + "_" + 16 random hex digits (thr, msg, tc, shcx…).
// The reference uses 8; twice that makes collisions within a thread, which
// would make one reply overwrite another in the client, a non-issue.
func NewID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}
