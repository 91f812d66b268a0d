package storage

import (
	"context"
	"errors"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Verifications are single-use secrets mailed to people (rows of
// verifications, Better-Auth's table): an e-mail verification or a password
// reset. The identifier is "<purpose>:<SHA-256 of the token>" (the caller
// hashes, as Better-Auth's storeIdentifier "hashed" does), the value the
// user's id.
type Verifications interface {
	// CreateVerification stores a verification that expires at expiresAt.
	CreateVerification(ctx context.Context, identifier, value string, expiresAt, now time.Time) error

	// DeleteVerifications deletes every verification of a purpose
	// (identifier prefix, e.g. "reset-password:") for a value (a user id):
	// a new reset link voids the older ones.
	DeleteVerifications(ctx context.Context, prefix, value string) error
}

// Credentials are the changes to an account that a mailed token or the
// account page makes. Each is one transaction: bad input leaves nothing
// half-written.
type Credentials interface {
	// VerifyEmail spends the verification with this identifier (once: of two
	// concurrent calls one gets it) and marks its user's address verified.
	// ErrNotFound for an unknown or spent identifier, ErrExpired for an
	// expired one (left for the sweep), ErrUserBlocked when the user is gone.
	VerifyEmail(ctx context.Context, identifier string, now time.Time) (*User, error)

	// ResetPassword spends the verification with this identifier (errors as
	// VerifyEmail) and, for its user, replaces the password hash, deletes
	// every session and every other reset verification, and revokes every
	// refresh-token family and access token.
	ResetPassword(ctx context.Context, identifier, passwordHash string, now time.Time) (*User, error)

	// ChangePassword does what ResetPassword does for a signed-in user whose
	// old password the caller has checked. ErrNotFound when the user has no
	// password credential.
	ChangePassword(ctx context.Context, userID, passwordHash string, now time.Time) error
}

// Identifier prefixes of the verifications the provider writes.
const (
	PurposeEmailVerification = "email-verification:"
	PurposeResetPassword     = "reset-password:"
)

// CreateVerification implements Verifications.
func (s *SQL) CreateVerification(ctx context.Context, identifier, value string, expiresAt, now time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO verifications (id, identifier, value, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, NewID(), identifier, value, ms(expiresAt), ms(now), ms(now))
	return err
}

// DeleteVerifications implements Verifications.
func (s *SQL) DeleteVerifications(ctx context.Context, prefix, value string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM verifications WHERE value = ? AND identifier LIKE ?", value, likePrefix(prefix))
	return err
}

// likePrefix escapes nothing: the prefixes are constants without % or _
// other than what they mean literally; '_' matching any character is
// harmless after a fixed prefix of letters and '-'.
func likePrefix(prefix string) string { return prefix + "%" }

// spendVerification deletes the row and returns its value; one statement,
// so two concurrent spends cannot both get it.
func spendVerification(ctx context.Context, tx *store.Tx, identifier string, now time.Time) (string, error) {
	var value string
	var expires int64
	err := tx.QueryRow(ctx, "DELETE FROM verifications WHERE identifier = ? RETURNING value, expires_at", identifier).Scan(&value, &expires)
	if err != nil {
		return "", notFound(err)
	}
	if !now.Before(fromMS(expires)) {
		return "", ErrExpired
	}
	return value, nil
}

// VerifyEmail implements Credentials.
func (s *SQL) VerifyEmail(ctx context.Context, identifier string, now time.Time) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		userID, err := spendVerification(ctx, tx, identifier, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET email_verified = 1, updated_at = ? WHERE id = ?", ms(now), userID); err != nil {
			return err
		}
		if u, err = userByID(ctx, tx, userID); errors.Is(err, ErrNotFound) {
			return ErrUserBlocked
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ResetPassword implements Credentials.
func (s *SQL) ResetPassword(ctx context.Context, identifier, passwordHash string, now time.Time) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		userID, err := spendVerification(ctx, tx, identifier, now)
		if err != nil {
			return err
		}
		if u, err = userByID(ctx, tx, userID); errors.Is(err, ErrNotFound) {
			return ErrUserBlocked
		} else if err != nil {
			return err
		}
		return replacePassword(ctx, tx, userID, passwordHash, now)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// ChangePassword implements Credentials.
func (s *SQL) ChangePassword(ctx context.Context, userID, passwordHash string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error { return replacePassword(ctx, tx, userID, passwordHash, now) })
}

// replacePassword sets the hash and ends everything the old password
// started: sessions, refresh-token families (repeated like revokeGrant, so
// a rotation racing it is caught), access tokens and pending reset links.
func replacePassword(ctx context.Context, tx *store.Tx, userID, passwordHash string, now time.Time) error {
	res, err := tx.Exec(ctx, "UPDATE accounts SET password = ?, updated_at = ? WHERE user_id = ? AND provider_id = 'credential'",
		passwordHash, ms(now), userID)
	if err := affected(res, err); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM verifications WHERE value = ? AND identifier LIKE ?", userID, likePrefix(PurposeResetPassword)); err != nil {
		return err
	}
	return revokeTokens(ctx, tx, byUser, byUser, userID, now)
}
