package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// Admin is what the admin API and the `intellistack user` command do to
// accounts: find and list them, change role, claims, verification and ban,
// end every session and delete them, and read the audit log. *SQL
// implements it.
type Admin interface {
	// UserByEmail returns the user with this (lower-cased) e-mail
	// address, or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (*User, error)

	// ListUsers returns one page of users, oldest first, and how many
	// match q in all.
	ListUsers(ctx context.Context, q UserQuery) ([]*User, int, error)

	// SetRole replaces a user's (comma-separated) role and returns the
	// user, or ErrNotFound.
	SetRole(ctx context.Context, userID, role string, now time.Time) (*User, error)

	// SetClaims replaces a user's custom claims, or with merge sets only
	// the keys of claims (a JSON null deletes a key), in one transaction,
	// and returns the user, or ErrNotFound.
	SetClaims(ctx context.Context, userID string, claims map[string]json.RawMessage, merge bool, now time.Time) (*User, error)

	// MarkEmailVerified marks a user's e-mail address verified and returns
	// the user, or ErrNotFound.
	MarkEmailVerified(ctx context.Context, userID string, now time.Time) (*User, error)

	// BanUser bans a user (expires zero: for good) and, in the same
	// transaction, deletes their sessions and revokes every refresh and
	// access token issued to them. ErrNotFound for an unknown user.
	BanUser(ctx context.Context, userID, reason string, expires, now time.Time) (*User, error)

	// UnbanUser lifts a ban and returns the user, or ErrNotFound.
	UnbanUser(ctx context.Context, userID string, now time.Time) (*User, error)

	// RevokeUserSessions deletes a user's sessions and revokes every
	// refresh-token family and access token issued to them, in one
	// transaction, and returns how many sessions it deleted.
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) (int, error)

	// DeleteUser deletes a user with their credentials, sessions,
	// consents and pending verifications, and revokes their tokens. ErrNotFound for an unknown user.
	DeleteUser(ctx context.Context, userID string, now time.Time) error

	// ListEvents returns one page of the audit log, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
}

// UserQuery selects users for ListUsers.
type UserQuery struct {
	Search string // a substring of the e-mail address or the name, case-insensitive; "" for all
	Limit  int    // 1 to 500; 0 means 100
	Offset int
}

// EventQuery selects audit events for ListEvents; zero fields select all.
type EventQuery struct {
	UserID string
	Event  string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // 1 to 1000; 0 means 100
	Offset int
}

// MaxClaimsBytes bounds the JSON of one user's claims.
const MaxClaimsBytes = 8 << 10

// ErrClaimsTooLarge: the claims would exceed MaxClaimsBytes.
var ErrClaimsTooLarge = fmt.Errorf("the claims exceed %d bytes", MaxClaimsBytes)

// decodeClaims reads users.claims; a value that is not a JSON object reads
// as no claims.
func decodeClaims(s string) map[string]json.RawMessage {
	if s == "{}" || s == "" {
		return nil // most users: no decoding on every session lookup
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &m) != nil || len(m) == 0 {
		return nil
	}
	return m
}

// encodeClaims writes users.claims (keys sorted, values compacted).
func encodeClaims(m map[string]json.RawMessage) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		var v any
		if err := json.Unmarshal(m[k], &v); err != nil {
			return "", fmt.Errorf("claim %s: %w", k, err)
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	if b.Len() > MaxClaimsBytes {
		return "", ErrClaimsTooLarge
	}
	return b.String(), nil
}

// UserByEmail implements Admin.
func (s *SQL) UserByEmail(ctx context.Context, email string) (*User, error) {
	return scanUser(s.db.QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.email = ?", email))
}

// likeEscape escapes LIKE's wildcards in s; the statements say ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// ListUsers implements Admin.
func (s *SQL) ListUsers(ctx context.Context, q UserQuery) ([]*User, int, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	where, args := "", []any{}
	if q.Search != "" {
		pat := "%" + likeEscape(strings.ToLower(q.Search)) + "%"
		where = " WHERE (LOWER(u.email) LIKE ? ESCAPE '!' OR LOWER(u.name) LIKE ? ESCAPE '!')"
		args = append(args, pat, pat)
	}
	var total int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM users u"+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+userColumns+" FROM users u"+where+" ORDER BY u.created_at, u.id LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	users := []*User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		users = append(users, u)
	}
	return users, total, rows.Err()
}

// updateUser runs one UPDATE of a user's row and returns the user.
func (s *SQL) updateUser(ctx context.Context, userID, set string, args ...any) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE users SET "+set+" WHERE id = ?", append(args, userID)...)
		if err := affected(res, err); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, userID)
		return err
	})
	return u, err
}

// SetRole implements Admin.
func (s *SQL) SetRole(ctx context.Context, userID, role string, now time.Time) (*User, error) {
	return s.updateUser(ctx, userID, "role = ?, updated_at = ?", role, ms(now))
}

// SetClaims implements Admin.
func (s *SQL) SetClaims(ctx context.Context, userID string, claims map[string]json.RawMessage, merge bool, now time.Time) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var current string
		if err := tx.QueryRow(ctx, "SELECT claims FROM users WHERE id = ?"+forUpdate(tx), userID).Scan(&current); err != nil {
			return notFound(err)
		}
		next := map[string]json.RawMessage{}
		if merge {
			for k, v := range decodeClaims(current) {
				next[k] = v
			}
		}
		for k, v := range claims {
			if merge && strings.TrimSpace(string(v)) == "null" {
				delete(next, k)
				continue
			}
			next[k] = v
		}
		enc, err := encodeClaims(next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET claims = ?, updated_at = ? WHERE id = ?", enc, ms(now), userID); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, userID)
		return err
	})
	return u, err
}

// MarkEmailVerified implements Admin.
func (s *SQL) MarkEmailVerified(ctx context.Context, userID string, now time.Time) (*User, error) {
	return s.updateUser(ctx, userID, "email_verified = 1, updated_at = ?", ms(now))
}

// endSessions deletes a user's sessions and revokes their tokens.
func endSessions(ctx context.Context, tx *store.Tx, userID string, now time.Time) (int, error) {
	res, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	// A rotation in flight on PostgreSQL inserts its successor after this
	// UPDATE's snapshot; it then finds its user banned or gone (spend
	// checks the user under the token's lock) only if the caller changed
	// the user first, which BanUser and DeleteUser do.
	if err := revokeTokens(ctx, tx, byUser, byUser, userID, now); err != nil {
		return 0, err
	}
	return int(n), nil
}

// BanUser implements Admin.
func (s *SQL) BanUser(ctx context.Context, userID, reason string, expires, now time.Time) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE users SET banned = 1, ban_reason = ?, ban_expires = ?, updated_at = ? WHERE id = ?",
			nullString(reason), nullMS(expires), ms(now), userID)
		if err := affected(res, err); err != nil {
			return err
		}
		if _, err := endSessions(ctx, tx, userID, now); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, userID)
		return err
	})
	return u, err
}

// UnbanUser implements Admin.
func (s *SQL) UnbanUser(ctx context.Context, userID string, now time.Time) (*User, error) {
	return s.updateUser(ctx, userID, "banned = 0, ban_reason = NULL, ban_expires = NULL, updated_at = ?", ms(now))
}

// RevokeUserSessions implements Admin.
func (s *SQL) RevokeUserSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	var n int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, "SELECT id FROM users WHERE id = ?", userID).Scan(&id); err != nil {
			return notFound(err)
		}
		var err error
		n, err = endSessions(ctx, tx, userID, now)
		return err
	})
	return n, err
}

// DeleteUser implements Admin.
func (s *SQL) DeleteUser(ctx context.Context, userID string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := endSessions(ctx, tx, userID, now); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM oidc_consents WHERE user_id = ?",
			"DELETE FROM accounts WHERE user_id = ?",
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		if err := deleteUserVerifications(ctx, tx, userID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM users WHERE id = ?", userID)
		return affected(res, err)
	})
}

// ListEvents implements Admin.
func (s *SQL) ListEvents(ctx context.Context, q EventQuery) ([]Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var conds []string
	var args []any
	if q.UserID != "" {
		conds, args = append(conds, "user_id = ?"), append(args, q.UserID)
	}
	if q.Event != "" {
		conds, args = append(conds, "event = ?"), append(args, q.Event)
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, ms(q.Since))
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, ms(q.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.db.Query(ctx, `SELECT id, created_at, event, outcome, user_id, email, client_id, ip, user_agent, detail,
		actor_id FROM auth_events`+where+" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := []Event{}
	for rows.Next() {
		var e Event
		var created int64
		if err := rows.Scan(&e.ID, &created, &e.Event, &e.Outcome, &e.UserID, &e.Email, &e.ClientID, &e.IP, &e.UserAgent,
			&e.Detail, &e.ActorID); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMS(created)
		events = append(events, e)
	}
	return events, rows.Err()
}

var _ Admin = (*SQL)(nil)
