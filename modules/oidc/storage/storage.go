// Package storage holds the OpenID provider's data: people and their
// password credentials, sign-in sessions, authorization requests waiting
// for sign-in or consent, authorization codes, refresh-token families,
// issued access tokens, consents, signing keys and the audit log (the
// tables of the provider's migration).
//
// Handlers speak the protocol and call the methods of Storage; this package
// alone speaks SQL. Each statement is written once, with '?' placeholders,
// and runs on SQLite and PostgreSQL through store.DB. The operations that
// must hold under concurrency are single methods, each one transaction, so
// no caller can get the locking wrong: a code is redeemed once (RedeemCode),
// a refresh token is rotated once and the reuse of a rotated one revokes its
// whole family (RotateRefresh), and nodes sharing the database never create
// competing signing keys (RotateKeys).
//
// Codes, refresh tokens and session tokens are stored and looked up by
// their SHA-256 hashes, which the caller computes: this package never sees a
// raw secret.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Storage is everything the provider stores.
type Storage interface {
	Users
	Sessions
	AuthRequests
	Codes
	RefreshTokens
	AccessTokens
	Consents
	Keys
	Events
	Revocations
	Verifications
	Credentials
	Accounts
	Admin
	SessionLists
	AccountChanges

	// DeleteExpired deletes the codes, authorization requests, access and
	// refresh tokens, sessions and verifications that expired before now.
	// Used refresh tokens stay until they expire: they are what reuse
	// detection looks for. Every node may sweep; the deletes are
	// idempotent. A failing delete does not stop the others; their errors
	// are joined.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// Errors the methods return; test them with errors.Is.
var (
	// ErrNotFound: no such row (or, for the lookups that say so, the row
	// has expired).
	ErrNotFound = errors.New("not found")

	// ErrEmailTaken: another user has this e-mail address.
	ErrEmailTaken = errors.New("an account with this e-mail address already exists")

	// ErrWrongClient: the code or token was issued to another client.
	ErrWrongClient = errors.New("issued to another client")

	// ErrExpired: the code or token has expired.
	ErrExpired = errors.New("expired")

	// ErrRevoked: the token has been revoked.
	ErrRevoked = errors.New("revoked")

	// ErrReused: the code or refresh token had already been spent; every
	// token of its grant has been revoked (RFC 6749 §4.1.2, RFC 9700
	// §4.14).
	ErrReused = errors.New("already used; every token of the grant is revoked")

	// ErrUserBlocked: the user of a grant no longer exists or is banned.
	ErrUserBlocked = errors.New("the user is no longer allowed to sign in")
)

// SQL is Storage on the shared database. It holds no state of its own, so
// building one per request costs nothing.
type SQL struct {
	db *store.DB
}

// New returns the storage on db.
func New(db *store.DB) *SQL { return &SQL{db: db} }

// querier is what *store.DB and *store.Tx have in common.
type querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// forUpdate locks the rows a SELECT reads until the transaction ends. On
// SQLite the transaction already holds the write lock (store.DB begins
// them IMMEDIATE), so nothing is added.
func forUpdate(tx *store.Tx) string {
	if tx.Dialect() == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Timestamps are stored as Unix milliseconds; a NULL one reads as the zero
// time.

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// nullMS is a timestamp to store, NULL for the zero time.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// nullString is a text to store, NULL when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// affected turns an UPDATE or DELETE that touched no row into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

var _ Storage = (*SQL)(nil)
