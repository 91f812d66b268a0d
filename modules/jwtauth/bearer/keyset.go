package bearer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// supportedAlgorithms are the asymmetric JWS algorithms bearer_jwt can be
// allowed to accept. HMAC and "none" are absent on purpose: against a
// public JWKS an HMAC "secret" is public, so they can never be enabled.
var supportedAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// Supported reports whether alg is an algorithm bearer_jwt can accept.
func Supported(alg string) bool { return supportedAlgorithms[alg] }

// verifyKey is one public key of a JWKS, reduced to what verification needs.
type verifyKey struct {
	kid string
	alg string // the key's "alg", empty when the JWKS does not pin one
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// fits reports whether the key may verify a token signed with alg: the key
// type must match the algorithm family and a pinned key alg must be equal.
func (k *verifyKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch k.pub.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		return alg[0] == 'E' && alg != "EdDSA"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// KeySet is an immutable snapshot of usable verification keys (a JWKS
// parsed by jwx, reduced to public signature keys).
type KeySet struct {
	byKid map[string][]*verifyKey
	all   []*verifyKey
}

// Len is the number of usable keys.
func (s *KeySet) Len() int { return len(s.all) }

// Has reports whether the set holds a usable key with this kid.
func (s *KeySet) Has(kid string) bool { return len(s.byKid[kid]) > 0 }

// candidates are the keys that may have signed a token with this kid and
// alg. A token without a kid is tried against every fitting key.
func (s *KeySet) candidates(kid, alg string) []*verifyKey {
	list := s.all
	if kid != "" {
		list = s.byKid[kid]
	}
	var out []*verifyKey
	for _, k := range list {
		if k.fits(alg) {
			out = append(out, k)
		}
	}
	return out
}

// ParseKeySet reads a JWKS document and keeps the public signature keys.
// Symmetric keys, encryption keys and unsupported key types are dropped, so
// an issuer publishing an "oct" key cannot enable HMAC verification.
func ParseKeySet(doc []byte) (*KeySet, error) {
	set, err := jwk.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	ks := &KeySet{byKid: make(map[string][]*verifyKey)}
	for i := 0; i < set.Len(); i++ {
		key, _ := set.Key(i)
		if key.KeyType() == jwa.OctetSeq {
			continue
		}
		if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		pub, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			continue
		}
		vk := &verifyKey{kid: key.KeyID(), pub: pub}
		if a := key.Algorithm(); a != nil {
			vk.alg = a.String()
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		ks.all = append(ks.all, vk)
		ks.byKid[vk.kid] = append(ks.byKid[vk.kid], vk)
	}
	if len(ks.all) == 0 {
		return nil, errors.New("JWKS has no usable signature keys")
	}
	return ks, nil
}
