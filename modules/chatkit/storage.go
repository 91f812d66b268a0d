package chatkit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

// errNotFound is a thread (or item) that does not exist for this owner. A
// thread of another user is not found too, by construction: every query
// filters on owner_id.
var errNotFound = errors.New("not found")

// threadRow is a thread as stored.
type threadRow struct {
	ID             string
	Owner          string
	Title          string
	Status         protocol.Status
	Metadata       ThreadMetadata
	CreatedAt      int64
	LastActivityAt int64
}

// ThreadMetadata is the server-side record of where a thread was started,
// never sent to clients.
type ThreadMetadata struct {
	Course string `json:"course,omitempty"`
	Stage  string `json:"stage,omitempty"`
	Lesson string `json:"lesson,omitempty"`
	URL    string `json:"url,omitempty"`
	Title  string `json:"title,omitempty"`
}

// wire converts a row to the client's view, items filled by the caller.
func (t *threadRow) wire() *protocol.Thread {
	return &protocol.Thread{
		ID:        t.ID,
		Title:     t.Title,
		CreatedAt: protocol.TimeFromMillis(t.CreatedAt),
		Status:    t.Status,
	}
}

// storage is the chatkit module's data access: threads, items, feedback and
// usage, over the shared store handle, identical on SQLite and PostgreSQL.
type storage struct {
	db *store.DB
}

const threadColumns = "id, owner_id, title, status, metadata, created_at, last_activity_at"

func scanThread(sc interface{ Scan(...any) error }) (*threadRow, error) {
	var t threadRow
	var title sql.NullString
	var status, meta string
	if err := sc.Scan(&t.ID, &t.Owner, &title, &status, &meta, &t.CreatedAt, &t.LastActivityAt); err != nil {
		return nil, err
	}
	t.Title = title.String
	_ = json.Unmarshal([]byte(status), &t.Status)
	if t.Status.Type == "" {
		t.Status.Type = protocol.StatusActive
	}
	_ = json.Unmarshal([]byte(meta), &t.Metadata)
	return &t, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// createThread inserts a thread owned by owner, with its first item when
// one is given, in one transaction (one commit before the first event).
func (s *storage) createThread(ctx context.Context, t *threadRow, first protocol.Item, pageContext []byte) error {
	status, _ := json.Marshal(t.Status)
	meta, _ := json.Marshal(t.Metadata)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO chatkit_threads
			(id, owner_id, title, status, metadata, created_at, updated_at, last_activity_at, next_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			t.ID, t.Owner, nullString(t.Title), string(status), string(meta), t.CreatedAt, t.CreatedAt, t.CreatedAt); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		return insertItem(ctx, tx, t.ID, first, time.UnixMilli(t.CreatedAt), pageContext)
	})
}

// getThread loads owner's thread, or errNotFound.
func (s *storage) getThread(ctx context.Context, owner, id string) (*threadRow, error) {
	t, err := scanThread(s.db.QueryRow(ctx,
		"SELECT "+threadColumns+" FROM chatkit_threads WHERE id = ? AND owner_id = ?", id, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return t, err
}

// listThreads pages through owner's threads by creation time (id breaks
// ties), strictly after the thread named by after.
func (s *storage) listThreads(ctx context.Context, owner string, p pageQuery) ([]*threadRow, bool, error) {
	args := []any{owner}
	where := "owner_id = ?"
	if p.after != "" {
		var created int64
		err := s.db.QueryRow(ctx, "SELECT created_at FROM chatkit_threads WHERE id = ? AND owner_id = ?",
			p.after, owner).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, errBadCursor
		}
		if err != nil {
			return nil, false, err
		}
		cmp := ">"
		if p.desc {
			cmp = "<"
		}
		where += fmt.Sprintf(" AND (created_at %s ? OR (created_at = ? AND id %s ?))", cmp, cmp)
		args = append(args, created, created, p.after)
	}
	dir := "ASC"
	if p.desc {
		dir = "DESC"
	}
	args = append(args, p.limit+1)
	rows, err := s.db.Query(ctx, "SELECT "+threadColumns+" FROM chatkit_threads WHERE "+where+
		" ORDER BY created_at "+dir+", id "+dir+" LIMIT ?", args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*threadRow
	for rows.Next() {
		t, err := scanThread(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > p.limit
	if more {
		out = out[:p.limit]
	}
	return out, more, nil
}

// errBadCursor is an `after` that names nothing this user can see.
var errBadCursor = errors.New("bad cursor")

// pageQuery is a validated page request.
type pageQuery struct {
	after string
	limit int
	desc  bool
}

// listItems pages through a thread's visible items in insertion order.
// The caller has checked ownership.
func (s *storage) listItems(ctx context.Context, threadID string, p pageQuery) ([]json.RawMessage, []string, bool, error) {
	args := []any{threadID}
	where := "thread_id = ? AND hidden = 0"
	cmp, dir := ">", "ASC"
	if p.desc {
		cmp, dir = "<", "DESC"
	}
	if p.after != "" {
		var seq int64
		err := s.db.QueryRow(ctx, "SELECT seq FROM chatkit_items WHERE thread_id = ? AND id = ? AND hidden = 0",
			threadID, p.after).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, false, errBadCursor
		}
		if err != nil {
			return nil, nil, false, err
		}
		where += " AND seq " + cmp + " ?"
		args = append(args, seq)
	}
	args = append(args, p.limit+1)
	rows, err := s.db.Query(ctx, "SELECT id, body FROM chatkit_items WHERE "+where+" ORDER BY seq "+dir+" LIMIT ?", args...)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	var bodies []json.RawMessage
	var ids []string
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, nil, false, err
		}
		bodies = append(bodies, json.RawMessage(body))
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, err
	}
	more := len(bodies) > p.limit
	if more {
		bodies, ids = bodies[:p.limit], ids[:p.limit]
	}
	return bodies, ids, more, nil
}

// storedItem is an item row.
type storedItem struct {
	Seq  int64
	Item protocol.Item
}

// recentItems returns up to n of the thread's latest items (hidden ones
// included), oldest first, for the responder's history.
func (s *storage) recentItems(ctx context.Context, threadID string, n int) ([]storedItem, error) {
	rows, err := s.db.Query(ctx, "SELECT seq, body FROM chatkit_items WHERE thread_id = ? ORDER BY seq DESC LIMIT ?", threadID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedItem
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, err
		}
		it, err := protocol.DecodeItem([]byte(body))
		if err != nil {
			return nil, err
		}
		out = append(out, storedItem{seq, it})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// getItem loads one item of a thread.
func (s *storage) getItem(ctx context.Context, threadID, id string) (storedItem, error) {
	var seq int64
	var body string
	err := s.db.QueryRow(ctx, "SELECT seq, body FROM chatkit_items WHERE thread_id = ? AND id = ?", threadID, id).Scan(&seq, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return storedItem{}, errNotFound
	}
	if err != nil {
		return storedItem{}, err
	}
	it, err := protocol.DecodeItem([]byte(body))
	return storedItem{seq, it}, err
}

// addItem appends an item to a thread and records the thread's activity.
func (s *storage) addItem(ctx context.Context, threadID string, it protocol.Item, createdAt time.Time, pageContext []byte) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		return insertItem(ctx, tx, threadID, it, createdAt, pageContext)
	})
}

// insertItem takes the thread's next sequence number under its row lock and
// inserts the item.
func insertItem(ctx context.Context, tx *store.Tx, threadID string, it protocol.Item, createdAt time.Time, pageContext []byte) error {
	body, err := json.Marshal(it)
	if err != nil {
		return err
	}
	var ctxCol any
	if len(pageContext) > 0 {
		ctxCol = string(pageContext)
	}
	hidden := 0
	if protocol.Hidden(it.ItemType()) {
		hidden = 1
	}
	ms := createdAt.UnixMilli()
	var seq int64
	err = tx.QueryRow(ctx, `UPDATE chatkit_threads SET next_seq = next_seq + 1, last_activity_at = ?, updated_at = ?
		WHERE id = ? RETURNING next_seq`, ms, ms, threadID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, context, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, threadID, it.ItemID(), seq, it.ItemType(), hidden, string(body), ctxCol, ms)
	return err
}

// saveItem replaces a stored item's body in place (thread.item.replaced,
// a completed client tool call), or appends it when it is new.
func (s *storage) saveItem(ctx context.Context, threadID string, it protocol.Item, now time.Time) error {
	body, err := json.Marshal(it)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, "UPDATE chatkit_items SET body = ?, type = ? WHERE thread_id = ? AND id = ?",
		string(body), it.ItemType(), threadID, it.ItemID())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.addItem(ctx, threadID, it, now, nil)
	}
	return nil
}

// deleteItem removes one item.
func (s *storage) deleteItem(ctx context.Context, threadID, id string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM chatkit_items WHERE thread_id = ? AND id = ?", threadID, id)
	return err
}

// deleteItemsAfter removes every item newer than seq (a retry).
func (s *storage) deleteItemsAfter(ctx context.Context, threadID string, seq int64) error {
	_, err := s.db.Exec(ctx, "DELETE FROM chatkit_items WHERE thread_id = ? AND seq > ?", threadID, seq)
	return err
}

// updateTitle renames owner's thread.
func (s *storage) updateTitle(ctx context.Context, owner, id, title string, now time.Time) error {
	res, err := s.db.Exec(ctx, "UPDATE chatkit_threads SET title = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
		nullString(title), now.UnixMilli(), id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// deleteThread removes owner's thread with its items and feedback.
func (s *storage) deleteThread(ctx context.Context, owner, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, "DELETE FROM chatkit_threads WHERE id = ? AND owner_id = ?", id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		if _, err := tx.Exec(ctx, "DELETE FROM chatkit_items WHERE thread_id = ?", id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM chatkit_feedback WHERE thread_id = ?", id)
		return err
	})
}

// recordFeedback stores kind for each listed item of the thread that exists
// and is visible; unknown ids are ignored, as the reference does.
func (s *storage) recordFeedback(ctx context.Context, owner, threadID string, itemIDs []string, kind string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, id := range itemIDs {
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM chatkit_items WHERE thread_id = ? AND id = ? AND hidden = 0",
				threadID, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO chatkit_feedback (thread_id, item_id, owner_id, kind, created_at)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (thread_id, item_id) DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at`,
				threadID, id, owner, kind, now.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
}

// feedbackOf returns the stored feedback kind of an item ("" if none).
func (s *storage) feedbackOf(ctx context.Context, threadID, itemID string) (string, error) {
	var kind string
	err := s.db.QueryRow(ctx, "SELECT kind FROM chatkit_feedback WHERE thread_id = ? AND item_id = ?", threadID, itemID).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return kind, err
}

// usageDelta is what one turn adds to a user's day.
type usageDelta struct {
	Messages, Replies, Errors, Cancelled int64
	TTFTms, TTFTCount                    int64
	ReplyMS, ReplyCount                  int64
}

// addUsage adds d to owner's counters for the UTC day of now.
func (s *storage) addUsage(ctx context.Context, owner string, now time.Time, d usageDelta) error {
	_, err := s.db.Exec(ctx, `INSERT INTO chatkit_usage
		(owner_id, day, messages, replies, errors, cancelled, ttft_ms_sum, ttft_count, reply_ms_sum, reply_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner_id, day) DO UPDATE SET
			messages = chatkit_usage.messages + excluded.messages,
			replies = chatkit_usage.replies + excluded.replies,
			errors = chatkit_usage.errors + excluded.errors,
			cancelled = chatkit_usage.cancelled + excluded.cancelled,
			ttft_ms_sum = chatkit_usage.ttft_ms_sum + excluded.ttft_ms_sum,
			ttft_count = chatkit_usage.ttft_count + excluded.ttft_count,
			reply_ms_sum = chatkit_usage.reply_ms_sum + excluded.reply_ms_sum,
			reply_count = chatkit_usage.reply_count + excluded.reply_count`,
		owner, now.UTC().Format("2006-01-02"), d.Messages, d.Replies, d.Errors, d.Cancelled,
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

// deleteInactive removes threads (with items and feedback) whose last
// activity is before cutoff, in batches, and returns how many went.
func (s *storage) deleteInactive(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	total := 0
	for {
		rows, err := s.db.Query(ctx, "SELECT id FROM chatkit_threads WHERE last_activity_at < ? LIMIT ?", cutoff.UnixMilli(), batch)
		if err != nil {
			return total, err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return total, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			return total, nil
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			for _, table := range []string{"chatkit_items", "chatkit_feedback"} {
				if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE thread_id IN ("+marks+")", args...); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "DELETE FROM chatkit_threads WHERE id IN ("+marks+")", args...)
			return err
		})
		if err != nil {
			return total, err
		}
		total += len(ids)
		if len(ids) < batch {
			return total, nil
		}
	}
}
