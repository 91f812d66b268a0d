package oidc

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// user is a row of users.
type user struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Image         string
	Role          string
	Banned        bool
	BanExpires    int64
	UpdatedAt     int64
}

var errNoUser = errors.New("no such user")

const userColumns = "id, email, email_verified, name, COALESCE(image, ''), role, banned, COALESCE(ban_expires, 0), updated_at"

func scanUser(row interface{ Scan(...any) error }) (*user, error) {
	var u user
	var verified, banned int
	if err := row.Scan(&u.ID, &u.Email, &verified, &u.Name, &u.Image, &u.Role, &banned, &u.BanExpires, &u.UpdatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errNoUser
		}
		return nil, err
	}
	u.EmailVerified, u.Banned = verified != 0, banned != 0
	return &u, nil
}

// isBanned applies the ban, lifting an expired one.
func (u *user) isBanned(now time.Time) bool {
	return u.Banned && (u.BanExpires == 0 || u.BanExpires > now.UnixMilli())
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func (p *provider) userByID(ctx context.Context, db *store.DB, id string) (*user, error) {
	return scanUser(db.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// userWithPassword loads a user by e-mail with the credential account's hash.
func (p *provider) userWithPassword(ctx context.Context, db *store.DB, email string) (*user, string, error) {
	row := db.QueryRow(ctx, `SELECT u.id, u.email, u.email_verified, u.name, COALESCE(u.image, ''), u.role, u.banned,
		COALESCE(u.ban_expires, 0), u.updated_at, COALESCE(a.password, '')
		FROM users u LEFT JOIN accounts a ON a.user_id = u.id AND a.provider_id = 'credential'
		WHERE u.email = ?`, email)
	var u user
	var verified, banned int
	var hash string
	if err := row.Scan(&u.ID, &u.Email, &verified, &u.Name, &u.Image, &u.Role, &banned, &u.BanExpires, &u.UpdatedAt, &hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, "", errNoUser
		}
		return nil, "", err
	}
	u.EmailVerified, u.Banned = verified != 0, banned != 0
	return &u, hash, nil
}

var errEmailTaken = errors.New("an account with this e-mail address already exists")

// createUser inserts a user and its credential account in one transaction.
func (p *provider) createUser(ctx context.Context, db *store.DB, email, name, hash string) (*user, error) {
	now := p.now().UnixMilli()
	u := &user{ID: newID(), Email: email, Name: name, Role: "user", UpdatedAt: now}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, email_verified, name, role, banned, metadata, created_at, updated_at)
			VALUES (?, ?, 0, ?, 'user', 0, '{}', ?, ?)`, u.ID, email, name, now, now); err != nil {
			if store.IsUniqueViolation(err) {
				return errEmailTaken
			}
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at)
			VALUES (?, ?, 'credential', ?, ?, ?, ?)`, newID(), u.ID, u.ID, hash, now, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// updatePasswordHash stores a re-hash with current parameters.
func (p *provider) updatePasswordHash(ctx context.Context, db *store.DB, userID, hash string) error {
	_, err := db.Exec(ctx, "UPDATE accounts SET password = ?, updated_at = ? WHERE user_id = ? AND provider_id = 'credential'",
		hash, p.now().UnixMilli(), userID)
	return err
}
