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
	"database/sql"
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

	"github.com/intellistack/intellistack/modules/store"
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
	db       func(context.Context) (*store.DB, error)
	sealKey  func() ([]byte, error) // AES-256 key for private keys at rest
	now      func() time.Time
	logger   *zap.Logger
}

// keyring keeps the signing keys every node shares. Keys live in the
// database; each node caches them for a minute. Creating and rotating keys
// happens in a transaction under a database lock (PostgreSQL advisory lock;
// SQLite's BEGIN IMMEDIATE), so two nodes never create competing keys.
//
// Life of a key (X5): created and published `lead` before it signs (so every
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

// pgKeyLock is the advisory-lock id that serializes key maintenance.
const pgKeyLock = 0x6f6964635f6b6579 // "oidc_key"

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
	db, err := k.cfg.db(ctx)
	if err != nil {
		return nil, err
	}
	keys, err = k.read(ctx, db)
	if err != nil {
		return nil, err
	}
	if pickSigner(keys, now) == nil || needsMaintenance(keys, now, k.cfg.lead) {
		if keys, err = k.maintain(ctx, db); err != nil {
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

// read loads and decrypts every key row.
func (k *keyring) read(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (*sql.Rows, error)
}) ([]*signingKey, error) {
	seal, err := k.cfg.sealKey()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT kid, alg, public_jwk, private_key, sign_from, sign_until, publish_until
		FROM oidc_signing_keys ORDER BY sign_from`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []*signingKey
	for rows.Next() {
		var kid, alg, pub, sealed string
		var from, until, publish int64
		if err := rows.Scan(&kid, &alg, &pub, &sealed, &from, &until, &publish); err != nil {
			return nil, err
		}
		key := &signingKey{kid: kid, alg: jwa.SignatureAlgorithm(alg), publicJWK: json.RawMessage(pub),
			signFrom: time.UnixMilli(from), signUntil: time.UnixMilli(until), publishUntil: time.UnixMilli(publish)}
		priv, err := openPrivateKey(seal, kid, sealed)
		if err != nil {
			// Sealed under another secret: still published and usable for
			// verification (the public half is plain), never for signing.
			k.cfg.logger.Error("cannot decrypt signing key; is the secret the same on every node?",
				zap.String("kid", kid), zap.Error(err))
			if key.public, err = parsePublicJWK(pub); err != nil {
				continue
			}
		} else {
			key.private, key.public = priv, priv.Public()
		}
		keys = append(keys, key)
	}
	return keys, rows.Err()
}

// maintain creates a first key, a successor, or removes expired keys, under
// the database lock, and returns the keys as they are after it.
func (k *keyring) maintain(ctx context.Context, db *store.DB) ([]*signingKey, error) {
	var keys []*signingKey
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if tx.Dialect() == store.Postgres {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", int64(pgKeyLock)); err != nil {
				return err
			}
		}
		now := k.cfg.now()
		if _, err := tx.Exec(ctx, "DELETE FROM oidc_signing_keys WHERE publish_until <= ?", now.UnixMilli()); err != nil {
			return err
		}
		var err error
		if keys, err = k.read(ctx, tx); err != nil {
			return err
		}
		s := pickSigner(keys, now)
		var from time.Time
		for _, key := range keys {
			if s == nil && key.private == nil && !now.Before(key.signFrom) && now.Before(key.signUntil) {
				// Another node sealed the current key with a different
				// secret: creating a rival key would split the cluster.
				return fmt.Errorf("signing key %s cannot be decrypted: every node must use the same secret", key.kid)
			}
		}
		switch {
		case s == nil:
			// First start (or every key lapsed): nobody can hold a token from
			// a key that does not exist yet, so this one signs at once.
			from = now
		case needsMaintenance(keys, now, k.cfg.lead):
			from = s.signUntil
		default:
			return nil
		}
		key, err := k.create(ctx, tx, now, from)
		if err != nil {
			return err
		}
		keys = append(keys, key)
		k.cfg.logger.Info("created signing key", zap.String("kid", key.kid), zap.String("alg", string(key.alg)),
			zap.Time("signs_from", key.signFrom), zap.Time("signs_until", key.signUntil))
		return nil
	})
	return keys, err
}

// create generates, seals and stores one key.
func (k *keyring) create(ctx context.Context, tx *store.Tx, now, from time.Time) (*signingKey, error) {
	priv, err := generateKey(k.cfg.alg)
	if err != nil {
		return nil, err
	}
	kid := randomToken(16)
	pub, err := publicJWK(priv.Public(), kid, k.cfg.alg)
	if err != nil {
		return nil, err
	}
	seal, err := k.cfg.sealKey()
	if err != nil {
		return nil, err
	}
	sealed, err := sealPrivateKey(seal, kid, priv)
	if err != nil {
		return nil, err
	}
	key := &signingKey{
		kid: kid, alg: k.cfg.alg, private: priv, public: priv.Public(), publicJWK: pub,
		signFrom: from, signUntil: from.Add(k.cfg.rotation), publishUntil: from.Add(k.cfg.rotation + k.cfg.retain),
	}
	_, err = tx.Exec(ctx, `INSERT INTO oidc_signing_keys (kid, alg, public_jwk, private_key, created_at, sign_from, sign_until, publish_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, kid, string(key.alg), string(pub), sealed, now.UnixMilli(),
		key.signFrom.UnixMilli(), key.signUntil.UnixMilli(), key.publishUntil.UnixMilli())
	return key, err
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
// and use (C9).
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
