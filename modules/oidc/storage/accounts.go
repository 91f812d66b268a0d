package storage

import (
	"context"
	"errors"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Account is a row of accounts other than the password credential: an
// identity at an upstream provider (provider_id is the upstream's name,
// account_id its subject) linked to a user. Upstream tokens are not kept:
// the provider uses an upstream only to sign a user in.
type Account struct {
	ID         string
	UserID     string
	ProviderID string
	AccountID  string
	CreatedAt  time.Time
}

// ProviderCredential is the provider_id of the password credential.
const ProviderCredential = "credential"

var (
	// ErrAccountTaken: this upstream identity is already linked to a user.
	ErrAccountTaken = errors.New("this upstream account is already linked")

	// ErrLastAccount: unlinking would leave the user no way to sign in.
	ErrLastAccount = errors.New("the last way to sign in cannot be unlinked")
)

// Accounts are the upstream identities linked to users (table accounts).
type Accounts interface {
	// UserByAccount returns the user an upstream identity is linked to, or
	// ErrNotFound.
	UserByAccount(ctx context.Context, providerID, accountID string) (*User, error)

	// CreateUserWithAccount adds u (id, DefaultRole as CreateUser) without a
	// password, linked to the upstream identity, in one transaction: either
	// both rows exist afterwards or neither. ErrEmailTaken when the address
	// is in use, ErrAccountTaken when the identity is linked already.
	CreateUserWithAccount(ctx context.Context, u User, providerID, accountID string) (*User, error)

	// LinkAccount links an upstream identity to an existing user.
	// ErrAccountTaken when it is linked already (to anyone), ErrNotFound
	// when the user does not exist.
	LinkAccount(ctx context.Context, userID, providerID, accountID string, now time.Time) error

	// LinkedAccounts lists a user's upstream identities (not the password
	// credential), oldest first.
	LinkedAccounts(ctx context.Context, userID string) ([]Account, error)

	// HasPassword reports whether the user has a password credential.
	HasPassword(ctx context.Context, userID string) (bool, error)

	// UnlinkAccount removes one of a user's upstream identities, in a
	// transaction that refuses to remove the user's last way to sign in
	// (ErrLastAccount). ErrNotFound when the user has no such identity.
	UnlinkAccount(ctx context.Context, userID, providerID, accountID string) error
}

// UserByAccount implements Accounts.
func (s *SQL) UserByAccount(ctx context.Context, providerID, accountID string) (*User, error) {
	return scanUser(s.db.QueryRow(ctx, "SELECT "+userColumns+` FROM users u JOIN accounts a ON a.user_id = u.id
		WHERE a.provider_id = ? AND a.account_id = ?`, providerID, accountID))
}

// CreateUserWithAccount implements Accounts.
func (s *SQL) CreateUserWithAccount(ctx context.Context, u User, providerID, accountID string) (*User, error) {
	if providerID == ProviderCredential {
		return nil, errors.New("storage: the credential provider is not an upstream")
	}
	return s.createUser(ctx, u, func(tx *store.Tx, u *User) error {
		return insertAccount(ctx, tx, u.ID, providerID, accountID, u.CreatedAt)
	})
}

func insertAccount(ctx context.Context, tx *store.Tx, userID, providerID, accountID string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, NewID(), userID, providerID, accountID, ms(now), ms(now))
	if store.IsUniqueViolation(err) {
		return ErrAccountTaken
	}
	return err
}

// LinkAccount implements Accounts.
func (s *SQL) LinkAccount(ctx context.Context, userID, providerID, accountID string, now time.Time) error {
	if providerID == ProviderCredential {
		return errors.New("storage: the credential provider is not an upstream")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := userByID(ctx, tx, userID); err != nil {
			return err
		}
		return insertAccount(ctx, tx, userID, providerID, accountID, now)
	})
}

// LinkedAccounts implements Accounts.
func (s *SQL) LinkedAccounts(ctx context.Context, userID string) ([]Account, error) {
	rows, err := s.db.Query(ctx, `SELECT id, user_id, provider_id, account_id, created_at FROM accounts
		WHERE user_id = ? AND provider_id <> 'credential' ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		var created int64
		if err := rows.Scan(&a.ID, &a.UserID, &a.ProviderID, &a.AccountID, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = fromMS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// HasPassword implements Accounts.
func (s *SQL) HasPassword(ctx context.Context, userID string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE user_id = ? AND provider_id = 'credential'
		AND password IS NOT NULL AND password <> ''`, userID).Scan(&n)
	return n > 0, err
}

// UnlinkAccount implements Accounts.
func (s *SQL) UnlinkAccount(ctx context.Context, userID, providerID, accountID string) error {
	if providerID == ProviderCredential {
		return ErrNotFound
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// Lock the user's rows so two unlinks of a user's last two
		// identities cannot both pass the count.
		rows, err := tx.Query(ctx, "SELECT provider_id, account_id, COALESCE(password, '') FROM accounts WHERE user_id = ?"+forUpdate(tx), userID)
		if err != nil {
			return err
		}
		found, others := false, 0
		for rows.Next() {
			var p, a, pw string
			if err := rows.Scan(&p, &a, &pw); err != nil {
				rows.Close()
				return err
			}
			switch {
			case p == providerID && a == accountID:
				found = true
			case p != ProviderCredential || pw != "":
				others++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if others == 0 {
			return ErrLastAccount
		}
		return affected(tx.Exec(ctx, "DELETE FROM accounts WHERE user_id = ? AND provider_id = ? AND account_id = ?", userID, providerID, accountID))
	})
}
