package password

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"
)

// VerifyAny checks pw against a stored hash in any format we accept:
// argon2id PHC strings (ours), bcrypt ($2a$, $2b$, $2y$) and Better-Auth's
// scrypt format (<32 hex salt>:<128 hex key>), so that imported accounts
// sign in without a password reset. stale is true for every format other
// than argon2id with at least the wanted parameters: the caller re-hashes
// after the successful sign-in.
func VerifyAny(pw, encoded string, want Params) (stale bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return Verify(pw, encoded, want)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if len(pw) > 72 { // bcrypt ignores the rest; refuse rather than truncate
			return false, ErrMismatch
		}
		switch err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw)); {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, ErrMismatch
		default:
			return false, ErrUnknownFormat
		}
	}
	if salt, key, ok := strings.Cut(encoded, ":"); ok && len(salt) == 32 && len(key) == 128 && isHex(salt) && isHex(key) {
		return verifyBetterAuthScrypt(pw, salt, key)
	}
	return false, ErrUnknownFormat
}

// verifyBetterAuthScrypt is Better-Auth's default hasher: scrypt N=16384,
// r=16, p=1, 64-byte key over the NFKC-normalized password, with the salt's
// hex text (not its bytes) as the salt.
func verifyBetterAuthScrypt(pw, saltHex, keyHex string) (bool, error) {
	want, err := hex.DecodeString(keyHex)
	if err != nil {
		return false, ErrUnknownFormat
	}
	got, err := scrypt.Key([]byte(norm.NFKC.String(pw)), []byte(saltHex), 16384, 16, 1, 64)
	if err != nil {
		return false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, ErrMismatch
	}
	return true, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
