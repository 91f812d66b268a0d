package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// User is a row of users.
type User struct {
	ID            string
	Email         string // lower-cased by the caller
	EmailVerified bool
	Name          string
	Image         string
	Role          string // comma-separated roles; DefaultRole when created empty
	Banned        bool
	BanReason     string
	BanExpires    time.Time // zero: the ban does not expire
	// Claims are the user's custom claims (users.claims, a JSON object);
	// the provider copies the ones its operator lists into tokens. Nil
	// when there are none.
	Claims    map[string]json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DefaultRole is the role of a user created without one.
const DefaultRole = "student"

// IsBanned applies the ban, lifting an expired one.
func (u *User) IsBanned(now time.Time) bool {
	return u.Banned && (u.BanExpires.IsZero() || u.BanExpires.After(now))
}

// Users are people and their password credentials (tables users and
// accounts; the password credential is the account with provider
// "credential").
type Users interface {
	// CreateUser adds u (given an id when it has none, DefaultRole when it
	// has none, and its Claims) with a password credential, in one
	// transaction.
	// ErrEmailTaken when the address is in use.
	CreateUser(ctx context.Context, u User, passwordHash string) (*User, error)

	// UserByID returns a user, or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)

	// UserWithPassword returns the user with this e-mail address and the
	// hash of their password credential ("" when they have none), or
	// ErrNotFound.
	UserWithPassword(ctx context.Context, email string) (*User, string, error)

	// SetPassword replaces the hash of a user's password credential (a
	// re-hash with current parameters). ErrNotFound when the user has no
	// password credential.
	SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error
}

const userColumns = "u.id, u.email, u.email_verified, u.name, COALESCE(u.image, ''), u.role, u.banned, COALESCE(u.ban_reason, ''), u.ban_expires, u.claims, u.created_at, u.updated_at"

// scanUser reads userColumns, then extra. The user, the column buffers
// and the destination list (room for 8 extra) are one allocation: a session
// lookup on every get-session goes through here.
func scanUser(row scanner, extra ...any) (*User, error) {
	r := new(userRow)
	dest := append(r.dest[:0], &r.u.ID, &r.u.Email, &r.verified, &r.u.Name, &r.u.Image, &r.u.Role, &r.banned, &r.u.BanReason,
		&r.banExpires, &r.claims, &r.created, &r.updated)
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, notFound(err)
	}
	u := &r.u
	u.Claims = decodeClaims(r.claims)
	u.EmailVerified, u.Banned = r.verified != 0, r.banned != 0
	u.BanExpires, u.CreatedAt, u.UpdatedAt = fromNullMS(r.banExpires), fromMS(r.created), fromMS(r.updated)
	return u, nil
}

// userRow is what scanUser reads a row into.
type userRow struct {
	u                User
	verified, banned int
	banExpires       sql.NullInt64
	created, updated int64
	claims           string
	dest             [20]any
}

func userByID(ctx context.Context, q querier, id string) (*User, error) {
	return scanUser(q.QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.id = ?", id))
}

// CreateUser implements Users.
func (s *SQL) CreateUser(ctx context.Context, u User, passwordHash string) (*User, error) {
	return s.createUser(ctx, u, func(tx *store.Tx, u *User) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at)
			VALUES (?, ?, 'credential', ?, ?, ?, ?)`, NewID(), u.ID, u.ID, passwordHash, ms(u.CreatedAt), ms(u.UpdatedAt))
		return err
	})
}

// createUser inserts u (with an id and the default role when it has none)
// and, in the same transaction, its first way to sign in: no user without
// one.
func (s *SQL) createUser(ctx context.Context, u User, account func(tx *store.Tx, u *User) error) (*User, error) {
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.Role == "" {
		u.Role = DefaultRole
	}
	claims, err := encodeClaims(u.Claims)
	if err != nil {
		return nil, err
	}
	verified := 0
	if u.EmailVerified {
		verified = 1
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, email_verified, name, image, role, banned, metadata, claims, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, '{}', ?, ?, ?)`, u.ID, u.Email, verified, u.Name, nullString(u.Image), u.Role,
			claims, ms(u.CreatedAt), ms(u.UpdatedAt)); err != nil {
			if store.IsUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		return account(tx, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByID implements Users.
func (s *SQL) UserByID(ctx context.Context, id string) (*User, error) { return userByID(ctx, s.db, id) }

// UserWithPassword implements Users.
func (s *SQL) UserWithPassword(ctx context.Context, email string) (*User, string, error) {
	var hash string
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userColumns+`, COALESCE(a.password, '')
		FROM users u LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = 'credential'
		WHERE u.email = ?`, email), &hash)
	if err != nil {
		return nil, "", err
	}
	return u, hash, nil
}

// SetPassword implements Users.
func (s *SQL) SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error {
	res, err := s.db.Exec(ctx, "UPDATE accounts SET password = ?, updated_at = ? WHERE user_id = ? AND provider_id = 'credential'",
		passwordHash, ms(now), userID)
	return affected(res, err)
}
