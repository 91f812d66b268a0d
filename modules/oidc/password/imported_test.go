package password

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestVerifyAny(t *testing.T) {
	p := Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	// Better-Auth test vector (better-auth-api.md §8.1).
	ba := "be1ba329ad7337c5f561cdfaa565e2b6:efc96a0229a4070b181d6d820bf2eff66fa2e9401530b0c9b49023a1b721768bd932c19752e1c66182964a8b81dff89df84e2625d56b299c420eccb70be9ba6e"
	if stale, err := VerifyAny("reset-horse-777", ba, p); err != nil || !stale {
		t.Fatalf("Better-Auth scrypt: stale=%v err=%v", stale, err)
	}
	if _, err := VerifyAny("reset-horse-778", ba, p); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password against scrypt: %v", err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("Correct-Horse-42"), bcrypt.MinCost)
	if stale, err := VerifyAny("Correct-Horse-42", string(bc), p); err != nil || !stale {
		t.Fatalf("bcrypt: stale=%v err=%v", stale, err)
	}
	if _, err := VerifyAny("wrong", string(bc), p); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password against bcrypt: %v", err)
	}
	h, _ := Hash("Correct-Horse-42", p)
	if stale, err := VerifyAny("Correct-Horse-42", h, p); err != nil || stale {
		t.Fatalf("argon2id: stale=%v err=%v", stale, err)
	}
	for _, bad := range []string{"", "plain", "zz:zz", "$1$md5$x"} {
		if _, err := VerifyAny("x", bad, p); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("VerifyAny(%q) = %v", bad, err)
		}
	}
}
