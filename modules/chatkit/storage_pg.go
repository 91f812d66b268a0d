package chatkit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// The writes of a turn on PostgreSQL, one statement each. Every statement
// is a round trip to the server, and BEGIN and COMMIT are two more: the
// transactions of storage.go and storage_items.go cost 4 round trips for the
// new thread or the user message and 5 or more for the end of the turn.
// Here each write is one autocommitted statement (data-modifying CTEs see
// one snapshot and commit together), sent straight to pgx (db.Pool(): no
// database/sql layer; pgx prepares and caches it per connection). SQLite
// keeps the transactions and its group commit: there a statement costs no
// round trip.

// pgCreateThreadSQL inserts a thread and its first item (sequence number
// 1) in one statement.
const pgCreateThreadSQL = `WITH t AS (
	INSERT INTO chatkit_threads (id, owner_id, title, status, metadata, created_at, updated_at, last_activity_at, next_seq)
	VALUES ($1, $2, $3, $4, $5, $6, $6, $6, 1)
)
INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, context, created_at)
VALUES ($1, $7, 1, $8, $9, $10, $11, $6)`

// pgCreateThread is createThread in one statement (a thread without items
// is the thread's INSERT alone); a unique violation fails both inserts.
func (s *storage) pgCreateThread(ctx context.Context, t *threadRow, first protocol.Item, pageContext []byte, status, meta string) error {
	if first == nil {
		return pgExec(ctx, s, `INSERT INTO chatkit_threads
			(id, owner_id, title, status, metadata, created_at, updated_at, last_activity_at, next_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $6, 0)`,
			t.ID, t.Owner, nullString(t.Title), status, meta, t.CreatedAt)
	}
	body, err := json.Marshal(first)
	if err != nil {
		return err
	}
	return pgExec(ctx, s, pgCreateThreadSQL, t.ID, t.Owner, nullString(t.Title), status, meta, t.CreatedAt,
		first.ItemID(), first.ItemType(), hiddenFlag(first), string(body), pageContextArg(pageContext))
}

// pageContextArg is the context column: NULL without a page context.
func pageContextArg(pageContext []byte) any {
	if len(pageContext) == 0 {
		return nil
	}
	return string(pageContext)
}

// pgAppendUserSQL bumps an active thread's sequence number and inserts the
// user message at it. A thread that is not found, not this owner's, or not
// stored as plainly active updates no row and inserts nothing.
const pgAppendUserSQL = `WITH t AS (
	UPDATE chatkit_threads SET next_seq = next_seq + 1, last_activity_at = $1, updated_at = $1
	WHERE id = $2 AND owner_id = $3 AND status = '` + activeStatusJSON + `'
	RETURNING ` + threadColumns + `, next_seq
), i AS (
	INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, context, created_at)
	SELECT t.id, $4, t.next_seq, $5, $6, $7, $8, $1 FROM t
)
SELECT ` + threadColumns + `, next_seq FROM t`

// pgAppendUserMessage is appendUserMessage in one statement, for a thread
// whose stored status is plainly active, the common case. It can only refuse
// before writing: check runs first on a stand-in active thread, and a check
// that refuses even that, or a thread that is missing or not plainly active,
// returns ok false with nothing written. The caller then runs the
// transaction, whose errors are the ones clients see (not found, a locked
// or closed thread, check's own). check must therefore decide from the
// thread's status (and its own inputs), as checkOpen does.
func (s *storage) pgAppendUserMessage(ctx context.Context, owner, threadID string, it protocol.Item, body []byte, ms int64,
	pageContext []byte, check func(*threadRow) error) (th *threadRow, seq int64, ok bool, err error) {
	if check(&threadRow{ID: threadID, Owner: owner, Status: protocol.Status{Type: protocol.StatusActive}}) != nil {
		return nil, 0, false, nil
	}
	err = pgRetry(ctx, func() error {
		th, seq, err = scanThreadSeq(s.db.Pool().QueryRow(ctx, pgAppendUserSQL,
			ms, threadID, owner, it.ItemID(), it.ItemType(), hiddenFlag(it), string(body), pageContextArg(pageContext)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return th, seq, true, nil
}

// pgFinishTurnSQL is finishTurn in one statement: the thread update takes
// the sequence numbers under the row's lock, the items are inserted from
// its next_seq (an id the thread already holds is skipped, and so missing
// from i's ids), and the usage upsert runs after the thread's lock is held,
// the order the transaction had. Four variants, [title][usage]: the usage
// parameters are $8–$17, the title is the last parameter (PostgreSQL
// refuses a parameter the statement does not use); pgx prepares each once
// per connection.
var pgFinishTurnSQL [2][2]string

func init() {
	for withTitle := range 2 {
		for withUsage := range 2 {
			title := ""
			if withTitle == 1 {
				title = ", title = $" + strconv.Itoa(8+10*withUsage)
			}
			q := `WITH t AS (
	UPDATE chatkit_threads SET next_seq = next_seq + $1, last_activity_at = $2, updated_at = $2` + title + `
	WHERE id = $3 RETURNING next_seq
), i AS (
	INSERT INTO chatkit_items (thread_id, id, seq, type, hidden, body, created_at)
	SELECT $3, v.id, t.next_seq - $1 + v.n, v.type, v.hidden, v.body, $2
	FROM t, unnest($4::text[], $5::text[], $6::int[], $7::text[]) WITH ORDINALITY AS v(id, type, hidden, body, n)
	ON CONFLICT (thread_id, id) DO NOTHING
	RETURNING id
)`
			if withUsage == 1 {
				q += `, u AS (` + pgUsageUpsert(8) + `)`
			}
			pgFinishTurnSQL[withTitle][withUsage] = q + `
SELECT EXISTS (SELECT 1 FROM t), ARRAY(SELECT id FROM i)`
		}
	}
}

// pgUsageUpsert is addUsage's statement with placeholders from $first.
func pgUsageUpsert(first int) string {
	return usageInsert + `VALUES (` + placeholders(first, 10) + `)` + usageOnConflict
}

// placeholders returns "$first, …" for n parameters.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

// pgUsageSQL is the usage upsert alone (a turn that stored nothing else).
var pgUsageSQL = pgUsageUpsert(1)

// usageArgs are the upsert's parameters.
func usageArgs(owner, day string, d usageDelta) []any {
	return []any{owner, day, d.Messages, d.Replies, d.Errors, d.Cancelled, d.TTFTms, d.TTFTCount, d.ReplyMS, d.ReplyCount}
}

// pgFinishTurn is finishTurn in one autocommitted statement, same results:
// the ids skipped as duplicates, errNotFound (usage still counted) for a
// thread deleted meanwhile.
func (s *storage) pgFinishTurn(ctx context.Context, owner, threadID string, items []finishedItem, title *string,
	ms int64, day string, usage usageDelta) ([]string, error) {
	withUsage := usage != (usageDelta{})
	if len(items) == 0 && title == nil {
		return nil, pgExec(ctx, s, pgUsageSQL, usageArgs(owner, day, usage)...)
	}
	ids := make([]string, len(items))
	types := make([]string, len(items))
	hidden := make([]int32, len(items))
	bodies := make([]string, len(items))
	for i, f := range items {
		ids[i], types[i], hidden[i], bodies[i] = f.item.ItemID(), f.item.ItemType(), hiddenFlag(f.item), string(f.body)
	}
	args := make([]any, 0, 18)
	args = append(args, int64(len(items)), ms, threadID, ids, types, hidden, bodies)
	wt, wu := 0, 0
	if withUsage {
		wu = 1
		args = append(args, usageArgs(owner, day, usage)...)
	}
	if title != nil {
		wt = 1
		args = append(args, nullString(*title))
	}
	var found bool
	var inserted []string
	err := pgRetry(ctx, func() error {
		return s.db.Pool().QueryRow(ctx, pgFinishTurnSQL[wt][wu], args...).Scan(&found, &inserted)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNotFound
	}
	if len(inserted) == len(items) {
		return nil, nil
	}
	stored := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		stored[id] = true
	}
	var dups []string
	for _, id := range ids {
		if !stored[id] {
			dups = append(dups, id)
		}
	}
	return dups, nil
}

// pgRetry runs fn again, at most twice, when it failed before anything
// reached the server (pgconn.SafeToRetry: nothing was written), as
// database/sql does for the statements it runs: a pooled connection that
// PostgreSQL closed (a restart) fails on its first use, and the pool then
// hands out another.
func pgRetry(ctx context.Context, fn func() error) error {
	var err error
	for range 3 {
		if err = fn(); err == nil || !pgconn.SafeToRetry(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// pgExec runs a statement through pgx, with pgRetry.
func pgExec(ctx context.Context, s *storage, query string, args ...any) error {
	return pgRetry(ctx, func() error {
		_, err := s.db.Pool().Exec(ctx, query, args...)
		return err
	})
}

// hiddenFlag is the hidden column of an item: 1 for items that feed the
// model only.
func hiddenFlag(it protocol.Item) int32 {
	if protocol.Hidden(it.ItemType()) {
		return 1
	}
	return 0
}
