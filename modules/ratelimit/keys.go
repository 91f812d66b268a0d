package ratelimit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// keyID is a fixed-size digest of a caller's key. Stores keep digests, not
// keys: an email or IP address is not written down as such, and a key taken
// from a request header cannot blow up an index entry or a map.
type keyID [16]byte

func hashKey(key string) keyID {
	sum := sha256.Sum256([]byte(key))
	var id keyID
	copy(id[:], sum[:])
	return id
}

func (k keyID) String() string { return hex.EncodeToString(k[:]) }

// lockID is the 64-bit PostgreSQL advisory lock for one zone and key. A
// collision only makes two keys wait for each other, never share counts.
func lockID(zone string, k keyID) int64 {
	h := sha256.New()
	h.Write([]byte("intellistack.ratelimit\x00"))
	h.Write([]byte(zone))
	h.Write([]byte{0})
	h.Write(k[:])
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}
