package mail

import (
	"context"
	"database/sql"
	"time"
)

// DB is what the queue needs of the store (modules/store.DB implements it).
type DB interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queueStore is the mail queue's SQL (table oidc_mail_queue, migration
// modules/oidc/migrations/0002_mail_queue.sql). Raw messages hold links with
// single-use tokens, so a row is deleted as soon as it is delivered.
type queueStore struct{ db DB }

type queued struct {
	id            string
	recipient     string
	raw           []byte
	attempts      int
	nextAttemptAt int64
}

func (s *queueStore) insert(ctx context.Context, id, recipient string, raw []byte, now time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO oidc_mail_queue (id, recipient, raw, attempts, next_attempt_at, last_error, created_at)
		VALUES (?, ?, ?, 0, ?, '', ?)`, id, recipient, string(raw), now.UnixMilli(), now.UnixMilli())
	return err
}

func (s *queueStore) due(ctx context.Context, now time.Time, limit int) ([]queued, error) {
	rows, err := s.db.Query(ctx, `SELECT id, recipient, raw, attempts, next_attempt_at FROM oidc_mail_queue
		WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var m queued
		var raw string
		if err := rows.Scan(&m.id, &m.recipient, &raw, &m.attempts, &m.nextAttemptAt); err != nil {
			return nil, err
		}
		m.raw = []byte(raw)
		out = append(out, m)
	}
	return out, rows.Err()
}

// claim reserves m until `until` unless another worker claimed it since it
// was read (its next_attempt_at then differs).
func (s *queueStore) claim(ctx context.Context, m queued, until time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, `UPDATE oidc_mail_queue SET next_attempt_at = ? WHERE id = ? AND next_attempt_at = ?`,
		until.UnixMilli(), m.id, m.nextAttemptAt)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *queueStore) reschedule(ctx context.Context, id string, attempts int, next time.Time, lastError string) error {
	if len(lastError) > 500 {
		lastError = lastError[:500]
	}
	_, err := s.db.Exec(ctx, `UPDATE oidc_mail_queue SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?`,
		attempts, next.UnixMilli(), lastError, id)
	return err
}

func (s *queueStore) delete(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM oidc_mail_queue WHERE id = ?`, id)
	return err
}
