package chatkit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
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
// included), oldest first, for the responder's history; before > 0 keeps
// only items with a smaller sequence number.
func (s *storage) recentItems(ctx context.Context, threadID string, n int, before int64) ([]storedItem, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.db.Query(ctx, "SELECT seq, body FROM chatkit_items WHERE thread_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
		threadID, before, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedItem
	var body []byte
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, err
		}
		it, err := protocol.DecodeItem(body)
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
	body, err := json.Marshal(it)
	if err != nil {
		return err
	}
	ms := createdAt.UnixMilli()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		seq, err := takeSeqs(ctx, tx, threadID, 1, ms, nil)
		if err != nil {
			return err
		}
		_, err = insertItemAt(ctx, tx, threadID, it, body, seq, ms, pageContext)
		return err
	})
}

// appendUserMessage stores a user message on owner's thread in one
// transaction (on PostgreSQL, one statement when the thread is active:
// storage_pg.go): the thread row is updated (activity, next sequence number)
// and returned in the same statement, check vets it (a locked thread, an
// unsupported input) before the item goes in, and any error rolls both
// back. It returns the thread and the item's sequence number. body is it's
// wire JSON when the caller has encoded it already (the stream sends the
// same bytes); nil: it is encoded here.
func (s *storage) appendUserMessage(ctx context.Context, owner, threadID string, it protocol.Item, body []byte,
	createdAt time.Time, pageContext []byte, check func(*threadRow) error) (*threadRow, int64, error) {
	var err error
	if body == nil {
		if body, err = protocol.MarshalItem(it); err != nil {
			return nil, 0, err
		}
	}
	ms := createdAt.UnixMilli()
	if s.db.Dialect() == store.Postgres {
		// One statement for an active thread (storage_pg.go); anything
		// else takes the transaction below, for its errors.
		th, seq, ok, err := s.pgAppendUserMessage(ctx, owner, threadID, it, body, ms, pageContext, check)
		if ok || err != nil {
			return th, seq, err
		}
	}
	var th *threadRow
	var seq int64
	err = s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		th, seq, err = scanThreadSeq(tx.QueryRow(ctx, `UPDATE chatkit_threads
			SET next_seq = next_seq + 1, last_activity_at = ?, updated_at = ?
			WHERE id = ? AND owner_id = ? RETURNING `+threadColumns+`, next_seq`, ms, ms, threadID, owner))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if err := check(th); err != nil {
			return err
		}
		_, err = insertItemAt(ctx, tx, threadID, it, body, seq, ms, pageContext)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return th, seq, nil
}

// takeSeqs reserves n sequence numbers of the thread under its row lock,
// records its activity (and a new title when title is not nil), and
// returns the first.
func takeSeqs(ctx context.Context, tx *store.Tx, threadID string, n int, ms int64, title *string) (int64, error) {
	var last int64
	var err error
	if title != nil {
		err = tx.QueryRow(ctx, `UPDATE chatkit_threads SET next_seq = next_seq + ?, last_activity_at = ?, updated_at = ?, title = ?
			WHERE id = ? RETURNING next_seq`, n, ms, ms, nullString(*title), threadID).Scan(&last)
	} else {
		err = tx.QueryRow(ctx, `UPDATE chatkit_threads SET next_seq = next_seq + ?, last_activity_at = ?, updated_at = ?
			WHERE id = ? RETURNING next_seq`, n, ms, ms, threadID).Scan(&last)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNotFound
	}
	return last - int64(n) + 1, err
}

// insertItemAt inserts an item with its wire JSON at sequence number seq;
// an id the thread already holds is a unique violation.
func insertItemAt(ctx context.Context, tx *store.Tx, threadID string, it protocol.Item, body []byte, seq, ms int64,
	pageContext []byte) (bool, error) {
	return insertItemStmt(ctx, tx, insertItemSQL, threadID, it, body, seq, ms, pageContext)
}

const insertItemSQL = `INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, context, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertNewItemAt is insertItemAt that skips an id the thread already
// holds: ok is false then.
func insertNewItemAt(ctx context.Context, tx *store.Tx, threadID string, it protocol.Item, body []byte, seq, ms int64) (ok bool, err error) {
	return insertItemStmt(ctx, tx, insertItemSQL+" ON CONFLICT (thread_id, id) DO NOTHING", threadID, it, body, seq, ms, nil)
}

func insertItemStmt(ctx context.Context, tx *store.Tx, stmt, threadID string, it protocol.Item, body []byte, seq, ms int64,
	pageContext []byte) (bool, error) {
	var ctxCol any
	if len(pageContext) > 0 {
		ctxCol = string(pageContext)
	}
	hidden := 0
	if protocol.Hidden(it.ItemType()) {
		hidden = 1
	}
	res, err := tx.Exec(ctx, stmt, threadID, it.ItemID(), seq, it.ItemType(), hidden, string(body), ctxCol, ms)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// finishedItem is an item a turn produced, with its wire JSON, stored when
// the turn ends.
type finishedItem struct {
	item protocol.Item
	body []byte
}

// finishTurn stores what a turn produced in one transaction (on PostgreSQL
// one statement, storage_pg.go): its items in order, the thread's activity and new title (title nil: unchanged), and
// the owner's usage. Items whose id the thread already holds are skipped
// and returned; a thread deleted meanwhile gets none, the usage still
// counts (errNotFound is returned after the commit).
func (s *storage) finishTurn(ctx context.Context, owner, threadID string, items []finishedItem, title *string,
	now time.Time, usage usageDelta) (dups []string, err error) {
	if len(items) == 0 && title == nil && usage == (usageDelta{}) {
		return nil, nil
	}
	ms := now.UnixMilli()
	if s.db.Dialect() == store.Postgres {
		return s.pgFinishTurn(ctx, owner, threadID, items, title, ms, now.UTC().Format(usageDayFormat), usage)
	}
	gone := false
	err = s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		dups, gone = nil, false
		if len(items) > 0 || title != nil {
			seq, err := takeSeqs(ctx, tx, threadID, len(items), ms, title)
			switch {
			case errors.Is(err, errNotFound):
				gone = true
			case err != nil:
				return err
			}
			for i, f := range items {
				if gone {
					break
				}
				ok, err := insertNewItemAt(ctx, tx, threadID, f.item, f.body, seq+int64(i), ms)
				if err != nil {
					return err
				}
				if !ok {
					dups = append(dups, f.item.ItemID())
				}
			}
		}
		if usage == (usageDelta{}) {
			return nil
		}
		return addUsage(ctx, tx, owner, now, usage)
	})
	if err == nil && gone {
		err = errNotFound
	}
	return dups, err
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
