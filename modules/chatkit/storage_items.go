package chatkit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

// Items and their feedback. Every method takes a thread whose ownership the
// caller has checked.

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
