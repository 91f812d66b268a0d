package storage

import (
	"context"
	"time"
)

// Session is a signed-in browser: a row of sessions. The browser's cookie
// carries the raw token; the row keeps its hash.
type Session struct {
	ID        string
	UserID    string
	AuthTime  time.Time // when the password was checked (OpenID Connect Core §2 auth_time)
	ExpiresAt time.Time
	IP        string
	UserAgent string
	CreatedAt time.Time
}

// Sessions are the server side of sign-in cookies.
type Sessions interface {
	// CreateSession stores s (given an id when it has none) under the hash
	// of its token.
	CreateSession(ctx context.Context, tokenHash string, s Session) (*Session, error)

	// Session returns the session with this token hash if it has not
	// expired by now, or ErrNotFound.
	Session(ctx context.Context, tokenHash string, now time.Time) (*Session, error)

	// SessionWithUser is Session and its user in one query (get-session
	// and the jwt plugin's /token read both on every call).
	SessionWithUser(ctx context.Context, tokenHash string, now time.Time) (*Session, *User, error)

	// DeleteSession deletes the session with this token hash (sign-out) and
	// returns it, or ErrNotFound. Of two concurrent calls one gets the
	// session.
	DeleteSession(ctx context.Context, tokenHash string) (*Session, error)
}

const sessionColumns = "id, user_id, auth_time, expires_at, ip_address, user_agent, created_at"

func scanSession(row scanner) (*Session, error) {
	var s Session
	var authTime, expires, created int64
	if err := row.Scan(&s.ID, &s.UserID, &authTime, &expires, &s.IP, &s.UserAgent, &created); err != nil {
		return nil, notFound(err)
	}
	s.AuthTime, s.ExpiresAt, s.CreatedAt = fromMS(authTime), fromMS(expires), fromMS(created)
	return &s, nil
}

// CreateSession implements Sessions.
func (s *SQL) CreateSession(ctx context.Context, tokenHash string, sess Session) (*Session, error) {
	if sess.ID == "" {
		sess.ID = NewID()
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, expires_at, auth_time, ip_address, user_agent, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, sess.ID, tokenHash, sess.UserID, ms(sess.ExpiresAt), ms(sess.AuthTime),
		sess.IP, sess.UserAgent, ms(sess.CreatedAt), ms(sess.CreatedAt)); err != nil {
		return nil, err
	}
	return &sess, nil
}

// Session implements Sessions.
func (s *SQL) Session(ctx context.Context, tokenHash string, now time.Time) (*Session, error) {
	sess, err := scanSession(s.db.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE token_hash = ?", tokenHash))
	if err != nil {
		return nil, err
	}
	if !now.Before(sess.ExpiresAt) {
		return nil, ErrNotFound
	}
	return sess, nil
}

// SessionWithUser implements Sessions.
func (s *SQL) SessionWithUser(ctx context.Context, tokenHash string, now time.Time) (*Session, *User, error) {
	var sess *Session
	var u *User
	var err error
	if pool := s.db.Pool(); pool != nil {
		// Front ends poll get-session: on PostgreSQL it goes to pgx
		// directly, without database/sql's locking and conversions (a
		// sixth of the endpoint's CPU), and concurrent lookups share a
		// query (session_lookups.go). pgx's ErrNoRows is sql.ErrNoRows.
		lookups := s.db.Shared(sessionLookupsKey{}, func() any { return &sessionLookups{pool: pool} }).(*sessionLookups)
		sess, u, err = lookups.find(tokenHash)
	} else {
		const q = "SELECT " + sessionWithUserColumns + sessionsJoinUsers + " WHERE s.token_hash = ?"
		sess, u, err = scanSessionWithUser(s.db.QueryRow(ctx, q, tokenHash))
	}
	if err != nil {
		return nil, nil, err
	}
	if !now.Before(sess.ExpiresAt) {
		return nil, nil, ErrNotFound
	}
	return sess, u, nil
}

// DeleteSession implements Sessions.
func (s *SQL) DeleteSession(ctx context.Context, tokenHash string) (*Session, error) {
	// One statement (RETURNING exists in both dialects), so two sign-outs
	// of one session cannot both report it.
	return scanSession(s.db.QueryRow(ctx, "DELETE FROM sessions WHERE token_hash = ? RETURNING "+sessionColumns, tokenHash))
}
