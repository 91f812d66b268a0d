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

// storage is the chatkit module's data access: threads and retention (this
// file), items and feedback (storage_items.go), usage (storage_usage.go),
// over the shared store handle. The module's SQL lives in these files only,
// written once for SQLite and PostgreSQL; TestStorageConformance runs every
// method on both.
type storage struct {
	db    *store.DB
	batch *batcher // nil: every write in a transaction of its own
}

// write runs fn in a transaction: a shared one through the batcher when
// there is one (see batch.go).
func (s *storage) write(ctx context.Context, fn func(ctx context.Context, tx *store.Tx) error) error {
	if s.batch == nil {
		return s.db.InTx(ctx, func(tx *store.Tx) error { return fn(ctx, tx) })
	}
	return s.batch.do(ctx, fn)
}

const threadColumns = "id, owner_id, title, status, metadata, created_at, last_activity_at"

func scanThread(sc interface{ Scan(...any) error }) (*threadRow, error) {
	t, _, err := scanThreadWith(sc, false)
	return t, err
}

// scanThreadSeq scans threadColumns followed by next_seq.
func scanThreadSeq(sc interface{ Scan(...any) error }) (*threadRow, int64, error) {
	return scanThreadWith(sc, true)
}

// The stored status and metadata of most threads; they need no decoding.
const (
	activeStatusJSON = `{"type":"active"}`
	emptyObjectJSON  = `{}`
)

func scanThreadWith(sc interface{ Scan(...any) error }, withSeq bool) (*threadRow, int64, error) {
	var t threadRow
	var title sql.NullString
	var status, meta string
	var seq int64
	dest := []any{&t.ID, &t.Owner, &title, &status, &meta, &t.CreatedAt, &t.LastActivityAt}
	if withSeq {
		dest = append(dest, &seq)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	t.Title = title.String
	if status != activeStatusJSON {
		_ = json.Unmarshal([]byte(status), &t.Status)
	}
	if t.Status.Type == "" {
		t.Status.Type = protocol.StatusActive
	}
	if meta != emptyObjectJSON {
		_ = json.Unmarshal([]byte(meta), &t.Metadata)
	}
	return &t, seq, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// createThread inserts a thread owned by owner, with its first item when
// one is given, in one transaction (one commit before the first event; on
// PostgreSQL one statement, storage_pg.go). The
// first item takes sequence number 1 directly.
// body is first's wire JSON when the caller has encoded it already (the
// stream sends the same bytes); nil: it is encoded here.
func (s *storage) createThread(ctx context.Context, t *threadRow, first protocol.Item, body, pageContext []byte) error {
	status, _ := json.Marshal(t.Status)
	meta, _ := json.Marshal(t.Metadata)
	var seq int64
	if first != nil {
		seq = 1
	}
	if s.db.Dialect() == store.Postgres {
		return s.pgCreateThread(ctx, t, first, pageContext, string(status), string(meta))
	}
	return s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO chatkit_threads
			(id, owner_id, title, status, metadata, created_at, updated_at, last_activity_at, next_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Owner, nullString(t.Title), string(status), string(meta), t.CreatedAt, t.CreatedAt, t.CreatedAt, seq); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		if body == nil {
			var err error
			if body, err = protocol.MarshalItem(first); err != nil {
				return err
			}
		}
		_, err := insertItemAt(ctx, tx, t.ID, first, body, seq, t.CreatedAt, pageContext)
		return err
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

// listThreads pages through owner's threads by creation time, or by last
// activity with p.byActivity (id breaks ties), strictly after the thread
// named by after.
func (s *storage) listThreads(ctx context.Context, owner string, p pageQuery) ([]*threadRow, bool, error) {
	col := "created_at" // a constant, never input: it is spliced into the SQL
	if p.byActivity {
		col = "last_activity_at"
	}
	args := []any{owner}
	where := "owner_id = ?"
	if p.after != "" {
		var created int64
		err := s.db.QueryRow(ctx, "SELECT "+col+" FROM chatkit_threads WHERE id = ? AND owner_id = ?",
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
		where += fmt.Sprintf(" AND (%s %s ? OR (%s = ? AND id %s ?))", col, cmp, col, cmp)
		args = append(args, created, created, p.after)
	}
	dir := "ASC"
	if p.desc {
		dir = "DESC"
	}
	args = append(args, p.limit+1)
	rows, err := s.db.Query(ctx, "SELECT "+threadColumns+" FROM chatkit_threads WHERE "+where+
		" ORDER BY "+col+" "+dir+", id "+dir+" LIMIT ?", args...)
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
	// byActivity orders threads by last activity instead of creation.
	byActivity bool
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
