package storage

import (
	"context"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// SigningKey is a row of oidc_signing_keys: a key every node shares. The
// private key is sealed by the caller (the storage never sees it in
// clear). A key is published from CreatedAt, signs from SignFrom to
// SignUntil, and stays published until PublishUntil.
type SigningKey struct {
	KID          string
	Alg          string // JWS alg (RFC 7518 §3.1)
	PublicJWK    string // the JWKS entry (RFC 7517 §4)
	SealedKey    string
	CreatedAt    time.Time
	SignFrom     time.Time
	SignUntil    time.Time
	PublishUntil time.Time
}

// Keys are the signing keys.
type Keys interface {
	// SigningKeys returns every key, oldest SignFrom first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)

	// RotateKeys maintains the key set under a lock every node shares
	// (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
	// lock), so two nodes never create competing keys: it deletes the keys
	// whose publication ended by now, passes the others to plan, and stores
	// the keys plan returns (none when the set is current). An error from
	// plan rolls everything back and is returned as is. It returns the keys
	// as they are after, oldest SignFrom first.
	RotateKeys(ctx context.Context, now time.Time, plan func(current []SigningKey) ([]SigningKey, error)) ([]SigningKey, error)
}

// pgKeyLock is the advisory-lock id that serializes key maintenance.
const pgKeyLock = 0x6f6964635f6b6579 // "oidc_key"

func signingKeys(ctx context.Context, q querier) ([]SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT kid, alg, public_jwk, private_key, created_at, sign_from, sign_until, publish_until
		FROM oidc_signing_keys ORDER BY sign_from, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []SigningKey
	for rows.Next() {
		var k SigningKey
		var created, from, until, publish int64
		if err := rows.Scan(&k.KID, &k.Alg, &k.PublicJWK, &k.SealedKey, &created, &from, &until, &publish); err != nil {
			return nil, err
		}
		k.CreatedAt, k.SignFrom, k.SignUntil, k.PublishUntil = fromMS(created), fromMS(from), fromMS(until), fromMS(publish)
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// SigningKeys implements Keys.
func (s *SQL) SigningKeys(ctx context.Context) ([]SigningKey, error) { return signingKeys(ctx, s.db) }

// RotateKeys implements Keys.
func (s *SQL) RotateKeys(ctx context.Context, now time.Time, plan func(current []SigningKey) ([]SigningKey, error)) ([]SigningKey, error) {
	var keys []SigningKey
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if tx.Dialect() == store.Postgres {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", int64(pgKeyLock)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM oidc_signing_keys WHERE publish_until <= ?", ms(now)); err != nil {
			return err
		}
		current, err := signingKeys(ctx, tx)
		if err != nil {
			return err
		}
		added, err := plan(current)
		if err != nil {
			return err
		}
		for _, k := range added {
			if _, err := tx.Exec(ctx, `INSERT INTO oidc_signing_keys (kid, alg, public_jwk, private_key, created_at, sign_from, sign_until, publish_until)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.KID, k.Alg, k.PublicJWK, k.SealedKey, ms(k.CreatedAt),
				ms(k.SignFrom), ms(k.SignUntil), ms(k.PublishUntil)); err != nil {
				return err
			}
		}
		if len(added) == 0 {
			keys = current
			return nil
		}
		keys, err = signingKeys(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
