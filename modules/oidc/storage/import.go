package storage

import (
	"context"
	"errors"

	"github.com/intellistack/intellistack/modules/store"
)

// The rows an importer (`intellistack import better-auth`) writes with
// their ids kept, and the reads it compares them with. Import rows carry
// what the other methods hide (the session's token hash and update time, an
// account's password), because an import must reproduce them exactly and
// then prove it did.

// ImportAccount is a row of accounts as an import writes it: the password
// credential (ProviderID "credential", Password its hash) or an upstream
// identity (no password; upstream tokens are not kept, see Account).
type ImportAccount struct {
	ID         string
	UserID     string
	ProviderID string
	AccountID  string
	Password   string
	CreatedAt  int64 // Unix ms, as stored
	UpdatedAt  int64
}

// ImportSession is a row of sessions as an import writes it.
type ImportSession struct {
	ID             string
	TokenHash      string
	UserID         string
	ExpiresAt      int64 // Unix ms, as stored
	AuthTime       int64
	IP             string
	UserAgent      string
	ImpersonatedBy string
	CreatedAt      int64
	UpdatedAt      int64
}

// ImportUser is a row of users as an import writes it (claims and metadata
// are left as they are: an import has none).
type ImportUser struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Image         string
	Role          string
	Banned        bool
	BanReason     string
	BanExpires    int64 // Unix ms; 0: none
	CreatedAt     int64
	UpdatedAt     int64
}

// ImportReader reads import rows, in a batch's transaction or outside.
type ImportReader struct {
	q   querier
	ctx context.Context
}

// ImportTx is one batch of an import: its writes commit together or not at
// all.
type ImportTx struct {
	ImportReader
}

// ImportReader returns a reader on the database (the verification pass).
func (s *SQL) ImportReader(ctx context.Context) *ImportReader {
	return &ImportReader{q: s.db, ctx: ctx}
}

// ImportBatch runs fn in one transaction and commits it when fn returns nil
// and commit is true (false: a dry run, rolled back after fn).
func (s *SQL) ImportBatch(ctx context.Context, commit bool, fn func(tx *ImportTx) error) error {
	errDryRun := errors.New("dry run")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := fn(&ImportTx{ImportReader{q: tx, ctx: ctx}}); err != nil {
			return err
		}
		if !commit {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

// User returns the user row with this id, or ErrNotFound.
func (r *ImportReader) User(id string) (*ImportUser, error) {
	return scanImportUser(r.q.QueryRow(r.ctx, `SELECT id, email, email_verified, name, COALESCE(image, ''), role, banned,
		COALESCE(ban_reason, ''), COALESCE(ban_expires, 0), created_at, updated_at FROM users WHERE id = ?`, id))
}

func scanImportUser(row scanner) (*ImportUser, error) {
	var u ImportUser
	var verified, banned int
	if err := row.Scan(&u.ID, &u.Email, &verified, &u.Name, &u.Image, &u.Role, &banned, &u.BanReason, &u.BanExpires,
		&u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, notFound(err)
	}
	u.EmailVerified, u.Banned = verified != 0, banned != 0
	return &u, nil
}

// UserIDByEmail returns the id of the user with this (lower-cased)
// address, or ErrNotFound.
func (r *ImportReader) UserIDByEmail(email string) (string, error) {
	var id string
	err := r.q.QueryRow(r.ctx, "SELECT id FROM users WHERE email = ?", email).Scan(&id)
	return id, notFound(err)
}

// Account returns the account row with this id, or ErrNotFound.
func (r *ImportReader) Account(id string) (*ImportAccount, error) {
	return scanImportAccount(r.q.QueryRow(r.ctx, `SELECT id, user_id, provider_id, account_id, COALESCE(password, ''),
		created_at, updated_at FROM accounts WHERE id = ?`, id))
}

// AccountByIdentity returns the account row of (provider, account id), or
// ErrNotFound.
func (r *ImportReader) AccountByIdentity(providerID, accountID string) (*ImportAccount, error) {
	return scanImportAccount(r.q.QueryRow(r.ctx, `SELECT id, user_id, provider_id, account_id, COALESCE(password, ''),
		created_at, updated_at FROM accounts WHERE provider_id = ? AND account_id = ?`, providerID, accountID))
}

func scanImportAccount(row scanner) (*ImportAccount, error) {
	var a ImportAccount
	if err := row.Scan(&a.ID, &a.UserID, &a.ProviderID, &a.AccountID, &a.Password, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, notFound(err)
	}
	return &a, nil
}

// Session returns the session row with this id, or ErrNotFound.
func (r *ImportReader) Session(id string) (*ImportSession, error) {
	return scanImportSession(r.q.QueryRow(r.ctx, `SELECT id, token_hash, user_id, expires_at, auth_time, ip_address,
		user_agent, COALESCE(impersonated_by, ''), created_at, updated_at FROM sessions WHERE id = ?`, id))
}

// SessionIDByTokenHash returns the id of the session with this token hash,
// or ErrNotFound.
func (r *ImportReader) SessionIDByTokenHash(tokenHash string) (string, error) {
	var id string
	err := r.q.QueryRow(r.ctx, "SELECT id FROM sessions WHERE token_hash = ?", tokenHash).Scan(&id)
	return id, notFound(err)
}

func scanImportSession(row scanner) (*ImportSession, error) {
	var s ImportSession
	if err := row.Scan(&s.ID, &s.TokenHash, &s.UserID, &s.ExpiresAt, &s.AuthTime, &s.IP, &s.UserAgent, &s.ImpersonatedBy,
		&s.CreatedAt, &s.UpdatedAt); err != nil {
		return nil, notFound(err)
	}
	return &s, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PutUser inserts u, or (update) overwrites the row with its id.
func (t *ImportTx) PutUser(u ImportUser, update bool) error {
	banExpires := any(nil)
	if u.BanExpires != 0 {
		banExpires = u.BanExpires
	}
	if update {
		return affected(t.q.Exec(t.ctx, `UPDATE users SET email = ?, email_verified = ?, name = ?, image = ?, role = ?,
			banned = ?, ban_reason = ?, ban_expires = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			u.Email, boolInt(u.EmailVerified), u.Name, nullString(u.Image), u.Role, boolInt(u.Banned), nullString(u.BanReason),
			banExpires, u.CreatedAt, u.UpdatedAt, u.ID))
	}
	_, err := t.q.Exec(t.ctx, `INSERT INTO users (id, email, email_verified, name, image, role, banned, ban_reason, ban_expires,
		metadata, claims, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', '{}', ?, ?)`,
		u.ID, u.Email, boolInt(u.EmailVerified), u.Name, nullString(u.Image), u.Role, boolInt(u.Banned), nullString(u.BanReason),
		banExpires, u.CreatedAt, u.UpdatedAt)
	return err
}

// PutAccount inserts a, or (update) overwrites the row with its id.
func (t *ImportTx) PutAccount(a ImportAccount, update bool) error {
	if update {
		return affected(t.q.Exec(t.ctx, `UPDATE accounts SET user_id = ?, provider_id = ?, account_id = ?, password = ?,
			created_at = ?, updated_at = ? WHERE id = ?`,
			a.UserID, a.ProviderID, a.AccountID, nullString(a.Password), a.CreatedAt, a.UpdatedAt, a.ID))
	}
	_, err := t.q.Exec(t.ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.UserID, a.ProviderID, a.AccountID, nullString(a.Password), a.CreatedAt, a.UpdatedAt)
	return err
}

// PutSession inserts s, or (update) overwrites the row with its id.
func (t *ImportTx) PutSession(s ImportSession, update bool) error {
	if update {
		return affected(t.q.Exec(t.ctx, `UPDATE sessions SET token_hash = ?, user_id = ?, expires_at = ?, auth_time = ?,
			ip_address = ?, user_agent = ?, impersonated_by = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			s.TokenHash, s.UserID, s.ExpiresAt, s.AuthTime, s.IP, s.UserAgent, nullString(s.ImpersonatedBy), s.CreatedAt,
			s.UpdatedAt, s.ID))
	}
	_, err := t.q.Exec(t.ctx, `INSERT INTO sessions (id, token_hash, user_id, expires_at, auth_time, ip_address, user_agent,
		impersonated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.UserID, s.ExpiresAt, s.AuthTime, s.IP, s.UserAgent, nullString(s.ImpersonatedBy), s.CreatedAt,
		s.UpdatedAt)
	return err
}
