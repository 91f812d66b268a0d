package chatkit

import (
	"context"
	"time"

	"github.com/intellistack/intellistack/modules/store"
)

// usageDelta is what one turn adds to a user's day.
type usageDelta struct {
	Messages, Replies, Errors, Cancelled int64
	TTFTms, TTFTCount                    int64
	ReplyMS, ReplyCount                  int64
}

// usageDayFormat is a usage row's day: the UTC date.
const usageDayFormat = "2006-01-02"

// addUsage adds d to owner's counters for the UTC day of now.
func (s *storage) addUsage(ctx context.Context, owner string, now time.Time, d usageDelta) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error { return addUsage(ctx, tx, owner, now, d) })
}

// The usage upsert, in two parts around its VALUES (placeholders differ:
// '?' through store.Tx, $n in PostgreSQL's one-statement turn).
const (
	usageInsert = `INSERT INTO chatkit_usage
		(owner_id, day, messages, replies, errors, cancelled, ttft_ms_sum, ttft_count, reply_ms_sum, reply_count)
		`
	usageOnConflict = `
		ON CONFLICT (owner_id, day) DO UPDATE SET
			messages = chatkit_usage.messages + excluded.messages,
			replies = chatkit_usage.replies + excluded.replies,
			errors = chatkit_usage.errors + excluded.errors,
			cancelled = chatkit_usage.cancelled + excluded.cancelled,
			ttft_ms_sum = chatkit_usage.ttft_ms_sum + excluded.ttft_ms_sum,
			ttft_count = chatkit_usage.ttft_count + excluded.ttft_count,
			reply_ms_sum = chatkit_usage.reply_ms_sum + excluded.reply_ms_sum,
			reply_count = chatkit_usage.reply_count + excluded.reply_count`
)

// addUsage adds d to owner's counters inside tx.
func addUsage(ctx context.Context, tx *store.Tx, owner string, now time.Time, d usageDelta) error {
	_, err := tx.Exec(ctx, usageInsert+`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+usageOnConflict,
		owner, now.UTC().Format(usageDayFormat), d.Messages, d.Replies, d.Errors, d.Cancelled,
		d.TTFTms, d.TTFTCount, d.ReplyMS, d.ReplyCount)
	return err
}

// UsageRow is one user's usage on one day, as the usage endpoint reports it.
type UsageRow struct {
	User         string  `json:"user"`
	Day          string  `json:"day"`
	Messages     int64   `json:"messages"`
	Replies      int64   `json:"replies"`
	Errors       int64   `json:"errors"`
	Cancelled    int64   `json:"cancelled"`
	AvgTTFTMS    float64 `json:"avg_time_to_first_token_ms"`
	AvgReplyMS   float64 `json:"avg_reply_ms"`
	TotalReplyMS int64   `json:"total_reply_ms"`
}

// usage lists rows for days in [from, to] (YYYY-MM-DD), one user or all.
func (s *storage) usage(ctx context.Context, user, from, to string, limit int) ([]UsageRow, error) {
	q := `SELECT owner_id, day, messages, replies, errors, cancelled, ttft_ms_sum, ttft_count, reply_ms_sum, reply_count
		FROM chatkit_usage WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if user != "" {
		q += " AND owner_id = ?"
		args = append(args, user)
	}
	q += " ORDER BY day, owner_id LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []UsageRow{}
	for rows.Next() {
		var r UsageRow
		var ttft, ttftN, reply, replyN int64
		if err := rows.Scan(&r.User, &r.Day, &r.Messages, &r.Replies, &r.Errors, &r.Cancelled, &ttft, &ttftN, &reply, &replyN); err != nil {
			return nil, err
		}
		if ttftN > 0 {
			r.AvgTTFTMS = float64(ttft) / float64(ttftN)
		}
		if replyN > 0 {
			r.AvgReplyMS = float64(reply) / float64(replyN)
		}
		r.TotalReplyMS = reply
		out = append(out, r)
	}
	return out, rows.Err()
}
