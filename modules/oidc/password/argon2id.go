package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/intellistack/intellistack/modules/oidc/password/internal/argon2"
)

// Params are argon2id cost parameters. The zero value is not usable; start
// from DefaultParams.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams is the OWASP minimum for argon2id (19 MiB, t=2, p=1): about
// 25–35 ms per hash on one core of the reference machine, the best security
// per CPU among the hashes measured there.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMismatch is returned by Verify for a wrong password.
var ErrMismatch = errors.New("password does not match")

// ErrUnknownFormat is returned by Verify for a hash it cannot read.
var ErrUnknownFormat = errors.New("unknown password hash format")

// Hash returns the PHC string of pw:
// $argon2id$v=19$m=<KiB>,t=<n>,p=<n>$<salt b64>$<key b64> (unpadded
// standard base64, as the reference implementation writes it).
func Hash(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks pw against a PHC argon2id string in constant time. It also
// reports whether the hash uses weaker parameters than want, so the caller
// can re-hash after a successful sign-in.
func Verify(pw, encoded string, want Params) (stale bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.Memory < want.Memory || p.Time < want.Time, nil
}

// maxMemory bounds the memory a stored hash may ask for (1 GiB), so a
// corrupted or hostile row cannot exhaust the process.
const maxMemory = 1 << 20

func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrUnknownFormat
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: argon2 version %s", ErrUnknownFormat, parts[2])
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return Params{}, nil, nil, ErrUnknownFormat
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrUnknownFormat
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrUnknownFormat
		}
	}
	if p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters out of range", ErrUnknownFormat)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return Params{}, nil, nil, ErrUnknownFormat
	}
	return p, salt, key, nil
}
