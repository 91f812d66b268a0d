package oidc

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// signingKey is one row of oidc_signing_keys, decrypted.
type signingKey struct {
	kid          string
	alg          jwa.SignatureAlgorithm
	private      crypto.Signer
	public       crypto.PublicKey
	publicJWK    json.RawMessage
	signFrom     time.Time
	signUntil    time.Time
	publishUntil time.Time
}

// keyringConfig is what the keyring needs from the provider.
type keyringConfig struct {
	alg      jwa.SignatureAlgorithm
	rotation time.Duration // how long a key signs
	lead     time.Duration // how long a key is published before it signs
	retain   time.Duration // how long a key stays published after it stops signing
	storage  func(context.Context) (storage.Keys, error)
	sealKey  func() ([]byte, error) // AES-256 key for private keys at rest
	now      func() time.Time
	logger   *zap.Logger
}

// keyring keeps the signing keys every node shares. Keys live in the
// database; each node caches them for a minute. Creating and rotating keys
// happens under a lock every node shares (storage.Keys.RotateKeys), so two
// nodes never create competing keys.
//
// Life of a key: created and published `lead` before it signs (so every
// relying party's cached JWKS knows it before it sees a token it signed),
// signs for `rotation`, stays published for `retain` more (the longest token
// lifetime plus the JWKS cache time), then is deleted.
type keyring struct {
	cfg keyringConfig

	mu       sync.Mutex
	keys     []*signingKey
	jwks     []byte
	loadedAt time.Time
	static   bool // tests: keys preloaded, no database
}

// keyRefresh is how long a node trusts its cached keys before re-reading
// the table (another node may have rotated).
const keyRefresh = time.Minute

func newKeyring(cfg keyringConfig) *keyring { return &keyring{cfg: cfg} }

// signer returns the key that signs now.
func (k *keyring) signer(ctx context.Context) (*signingKey, error) {
	keys, err := k.load(ctx)
	if err != nil {
		return nil, err
	}
	if s := pickSigner(keys, k.cfg.now()); s != nil {
		return s, nil
	}
	return nil, errors.New("no signing key is valid now")
}

// published returns the keys in the JWKS and its JSON.
func (k *keyring) published(ctx context.Context) ([]*signingKey, []byte, error) {
	keys, err := k.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return keys, k.jwks, nil
}

// byKID finds a published key for verification.
func (k *keyring) byKID(ctx context.Context, kid string) *signingKey {
	keys, err := k.load(ctx)
	if err != nil {
		return nil
	}
	for _, key := range keys {
		if key.kid == kid {
			return key
		}
	}
	return nil
}

// load returns the cached keys, re-reading (and maintaining) them when the
// cache is old or no longer has a key that may sign now.
func (k *keyring) load(ctx context.Context) ([]*signingKey, error) {
	now := k.cfg.now()
	k.mu.Lock()
	age := now.Sub(k.loadedAt)
	keys, fresh := k.keys, k.static || (age < keyRefresh && age > -keyRefresh)
	k.mu.Unlock()
	if fresh && pickSigner(keys, now) != nil && !needsMaintenance(keys, now, k.cfg.lead) {
		return keys, nil
	}
	st, err := k.cfg.storage(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if keys, err = k.decode(rows); err != nil {
		return nil, err
	}
	if pickSigner(keys, now) == nil || needsMaintenance(keys, now, k.cfg.lead) {
		if keys, err = k.maintain(ctx, st); err != nil {
			return nil, err
		}
	}
	jwks, err := buildJWKS(keys)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys, k.jwks, k.loadedAt = keys, jwks, now
	k.mu.Unlock()
	return keys, nil
}

// pickSigner returns the newest key whose signing window contains now.
func pickSigner(keys []*signingKey, now time.Time) *signingKey {
	var best *signingKey
	for _, key := range keys {
		if key.private != nil && !now.Before(key.signFrom) && now.Before(key.signUntil) && (best == nil || key.signFrom.After(best.signFrom)) {
			best = key
		}
	}
	return best
}

// needsMaintenance says whether a successor must be created (the signer
// stops within lead and nothing follows it) or an expired key removed.
func needsMaintenance(keys []*signingKey, now time.Time, lead time.Duration) bool {
	s := pickSigner(keys, now)
	if s == nil {
		return true
	}
	for _, key := range keys {
		if !now.Before(key.publishUntil) {
			return true
		}
	}
	if s.signUntil.Sub(now) > lead {
		return false
	}
	for _, key := range keys {
		if !key.signFrom.Before(s.signUntil) {
			return false
		}
	}
	return true
}

// decode decrypts stored keys.
func (k *keyring) decode(rows []storage.SigningKey) ([]*signingKey, error) {
	seal, err := k.cfg.sealKey()
	if err != nil {
		return nil, err
	}
	keys := make([]*signingKey, 0, len(rows))
	for _, row := range rows {
		key := &signingKey{kid: row.KID, alg: jwa.SignatureAlgorithm(row.Alg), publicJWK: json.RawMessage(row.PublicJWK),
			signFrom: row.SignFrom, signUntil: row.SignUntil, publishUntil: row.PublishUntil}
		priv, err := openPrivateKey(seal, row.KID, row.SealedKey)
		if err != nil {
			// Sealed under another secret: still published and usable for
			// verification (the public half is plain), never for signing.
			k.cfg.logger.Error("cannot decrypt signing key; is the secret the same on every node?",
				zap.String("kid", row.KID), zap.Error(err))
			if key.public, err = parsePublicJWK(row.PublicJWK); err != nil {
				continue
			}
		} else {
			key.private, key.public = priv, priv.Public()
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// maintain creates a first key or a successor, and has expired keys
// removed, under the storage's key lock; it returns the keys as they are
// after it.
func (k *keyring) maintain(ctx context.Context, st storage.Keys) ([]*signingKey, error) {
	var keys []*signingKey
	now := k.cfg.now()
	_, err := st.RotateKeys(ctx, now, func(current []storage.SigningKey) ([]storage.SigningKey, error) {
		var err error
		if keys, err = k.decode(current); err != nil {
			return nil, err
		}
		s := pickSigner(keys, now)
		for _, key := range keys {
			if s == nil && key.private == nil && !now.Before(key.signFrom) && now.Before(key.signUntil) {
				// Another node sealed the current key with a different
				// secret: creating a rival key would split the cluster.
				return nil, fmt.Errorf("signing key %s cannot be decrypted: every node must use the same secret", key.kid)
			}
		}
		var from time.Time
		switch {
		case s == nil:
			// First start (or every key lapsed): nobody can hold a token from
			// a key that does not exist yet, so this one signs at once.
			from = now
		case needsMaintenance(keys, now, k.cfg.lead):
			from = s.signUntil
		default:
			return nil, nil
		}
		key, row, err := k.create(now, from)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
		k.cfg.logger.Info("created signing key", zap.String("kid", key.kid), zap.String("alg", string(key.alg)),
			zap.Time("signs_from", key.signFrom), zap.Time("signs_until", key.signUntil))
		return []storage.SigningKey{row}, nil
	})
	return keys, err
}

// create generates and seals one key, signing from from.
func (k *keyring) create(now, from time.Time) (*signingKey, storage.SigningKey, error) {
	priv, err := generateKey(k.cfg.alg)
	if err != nil {
		return nil, storage.SigningKey{}, err
	}
	kid := randomToken(16)
	pub, err := publicJWK(priv.Public(), kid, k.cfg.alg)
	if err != nil {
		return nil, storage.SigningKey{}, err
	}
	seal, err := k.cfg.sealKey()
	if err != nil {
		return nil, storage.SigningKey{}, err
	}
	sealed, err := sealPrivateKey(seal, kid, priv)
	if err != nil {
		return nil, storage.SigningKey{}, err
	}
	key := &signingKey{
		kid: kid, alg: k.cfg.alg, private: priv, public: priv.Public(), publicJWK: pub,
		signFrom: from, signUntil: from.Add(k.cfg.rotation), publishUntil: from.Add(k.cfg.rotation + k.cfg.retain),
	}
	return key, storage.SigningKey{KID: kid, Alg: string(key.alg), PublicJWK: string(pub), SealedKey: sealed, CreatedAt: now,
		SignFrom: key.signFrom, SignUntil: key.signUntil, PublishUntil: key.publishUntil}, nil
}

func generateKey(alg jwa.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jwa.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jwa.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// publicJWK is the JWKS entry of a key: public members only, with kid, alg
// and use (RFC 7517 §4, OpenID Connect Core §10.1.1).
func publicJWK(pub crypto.PublicKey, kid string, alg jwa.SignatureAlgorithm) (json.RawMessage, error) {
	key, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(name, v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(key)
}

// buildJWKS renders the published keys as a JWK Set.
func buildJWKS(keys []*signingKey) ([]byte, error) {
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, key := range keys {
		set.Keys = append(set.Keys, key.publicJWK)
	}
	return json.Marshal(set)
}

func parsePublicJWK(raw string) (crypto.PublicKey, error) {
	key, err := jwk.ParseKey([]byte(raw))
	if err != nil {
		return nil, err
	}
	var pub any
	if err := key.Raw(&pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// sealPrivateKey encrypts a PKCS#8 private key with AES-256-GCM; the kid is
// the additional data, so a sealed key cannot be moved to another row.
func sealPrivateKey(key []byte, kid string, priv crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, der, []byte(kid))), nil
}

func openPrivateKey(key []byte, kid, sealed string) (crypto.Signer, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(raw) < gcm.NonceSize() {
		return nil, errors.New("sealed key too short")
	}
	der, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(kid))
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unexpected key type %T", priv)
	}
	return signer, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sign produces a compact JWS of payload with the current signing key, with
// kid and typ in the protected header.
func (k *keyring) sign(ctx context.Context, typ string, payload []byte) (string, *signingKey, error) {
	key, err := k.signer(ctx)
	if err != nil {
		return "", nil, err
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, key.kid)
	_ = hdr.Set(jws.TypeKey, typ)
	out, err := jws.Sign(payload, jws.WithKey(key.alg, key.private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", nil, err
	}
	return string(out), key, nil
}

// verify checks a compact JWS against the published keys and returns its
// payload and typ header. It never trusts the header's alg: the key's own
// algorithm is used.
func (k *keyring) verify(ctx context.Context, token string) (payload []byte, typ string, err error) {
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, "", errors.New("malformed token")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	key := k.byKID(ctx, hdr.KeyID())
	if key == nil {
		return nil, "", errors.New("unknown key id")
	}
	if hdr.Algorithm() != key.alg {
		return nil, "", errors.New("algorithm mismatch")
	}
	payload, err = jws.Verify([]byte(token), jws.WithKey(key.alg, key.public))
	if err != nil {
		return nil, "", errors.New("bad signature")
	}
	return payload, hdr.Type(), nil
}
