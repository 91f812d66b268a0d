package storage

import (
	"context"
	"time"
)

// SessionLists are what the Better-Auth API (better_auth_api) does to a
// signed-in user's own sessions and profile: list them, end one or all but
// one, and change the name or picture.
type SessionLists interface {
	// UserSessions returns the user's sessions that have not expired by
	// now, oldest first.
	UserSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)

	// DeleteUserSession deletes the user's session with this id or token
	// hash and returns it, or ErrNotFound (also for another user's
	// session).
	DeleteUserSession(ctx context.Context, userID, idOrTokenHash string) (*Session, error)

	// DeleteOtherSessions deletes every session of the user except keepID
	// and returns the ones it deleted.
	DeleteOtherSessions(ctx context.Context, userID, keepID string) ([]*Session, error)

	// UpdateProfile sets the name and picture of a user (nil: unchanged)
	// and returns the user, or ErrNotFound.
	UpdateProfile(ctx context.Context, userID string, name, image *string, now time.Time) (*User, error)

	// Verification returns the value of an unexpired verification without
	// spending it, or ErrNotFound.
	Verification(ctx context.Context, identifier string, now time.Time) (string, error)

	// ExtendSession sets a session's expiry, or ErrNotFound.
	ExtendSession(ctx context.Context, id string, expiresAt, now time.Time) error
}

var _ SessionLists = (*SQL)(nil)

func (s *SQL) sessions(ctx context.Context, query string, args ...any) ([]*Session, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// UserSessions implements SessionLists.
func (s *SQL) UserSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error) {
	return s.sessions(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id",
		userID, ms(now))
}

// DeleteUserSession implements SessionLists.
func (s *SQL) DeleteUserSession(ctx context.Context, userID, idOrTokenHash string) (*Session, error) {
	return scanSession(s.db.QueryRow(ctx, "DELETE FROM sessions WHERE user_id = ? AND (id = ? OR token_hash = ?) RETURNING "+sessionColumns,
		userID, idOrTokenHash, idOrTokenHash))
}

// DeleteOtherSessions implements SessionLists.
func (s *SQL) DeleteOtherSessions(ctx context.Context, userID, keepID string) ([]*Session, error) {
	return s.sessions(ctx, "DELETE FROM sessions WHERE user_id = ? AND id <> ? RETURNING "+sessionColumns, userID, keepID)
}

// UpdateProfile implements SessionLists.
func (s *SQL) UpdateProfile(ctx context.Context, userID string, name, image *string, now time.Time) (*User, error) {
	set, args := "updated_at = ?", []any{ms(now)}
	if name != nil {
		set += ", name = ?"
		args = append(args, *name)
	}
	if image != nil {
		set += ", image = ?"
		args = append(args, nullString(*image))
	}
	return s.updateUser(ctx, userID, set, args...)
}

// Verification returns the value of an unexpired verification, or
// ErrNotFound; it does not spend it (a mailed link is checked before the
// form that spends it).
func (s *SQL) Verification(ctx context.Context, identifier string, now time.Time) (string, error) {
	var value string
	err := s.db.QueryRow(ctx, "SELECT value FROM verifications WHERE identifier = ? AND expires_at > ?", identifier, ms(now)).Scan(&value)
	return value, notFound(err)
}

// ExtendSession moves a session's expiry (Better-Auth's refresh on use).
// ErrNotFound when the session is gone.
func (s *SQL) ExtendSession(ctx context.Context, id string, expiresAt, now time.Time) error {
	res, err := s.db.Exec(ctx, "UPDATE sessions SET expires_at = ?, updated_at = ? WHERE id = ?", ms(expiresAt), ms(now), id)
	return affected(res, err)
}
