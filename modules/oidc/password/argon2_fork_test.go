package password

import (
	"bytes"
	"fmt"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"

	"github.com/intellistack/intellistack/modules/oidc/password/internal/argon2"
)

// TestForkMatchesXCrypto checks the pooled fork against upstream, in an
// order that reuses memory across sizes (larger, then smaller, then larger
// again) and thread counts, so a pooled slice that was not wiped or not cut
// to size would change a key.
func TestForkMatchesXCrypto(t *testing.T) {
	cases := []struct {
		time, memory uint32
		threads      uint8
	}{
		{2, 19 * 1024, 1},
		{1, 64, 1},
		{3, 4096, 4},
		{2, 19 * 1024, 1},
		{1, 8192, 2},
		{2, 100, 3}, // memory rounded down to a multiple of 4×threads
	}
	for i, c := range cases {
		pw := []byte(fmt.Sprintf("Passw0rd-%d!", i))
		salt := []byte(fmt.Sprintf("salt-of-case-%02d", i))
		for round := 0; round < 2; round++ {
			got := argon2.IDKey(pw, salt, c.time, c.memory, c.threads, 32)
			want := xargon2.IDKey(pw, salt, c.time, c.memory, c.threads, 32)
			if !bytes.Equal(got, want) {
				t.Fatalf("case %d %+v round %d: fork %x, x/crypto %x", i, c, round, got, want)
			}
		}
	}
}

// BenchmarkArgon2idParallel hashes at DefaultParams on every core at once,
// as concurrent sign-ins do, with the fork and with upstream side by side:
//
//	go test -run XXX -bench Argon2idParallel -benchtime 100x ./modules/oidc/password/
func BenchmarkArgon2idParallel(b *testing.B) {
	p := DefaultParams
	salt := []byte("0123456789abcdef")
	for _, impl := range []struct {
		name  string
		idKey func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
	}{{"fork", argon2.IDKey}, {"x-crypto", xargon2.IDKey}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.idKey([]byte("Passw0rd!"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
				}
			})
		})
	}
}
