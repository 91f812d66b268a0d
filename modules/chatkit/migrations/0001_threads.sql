-- ChatKit threads, their items, feedback and per-user daily usage
-- (modules/chatkit). Timestamps are Unix milliseconds (UTC).

-- One conversation. owner_id is {http.auth.user.id}; every query filters on
-- it, so another user's thread is indistinguishable from a missing one.
-- metadata is server-side JSON (course, stage, page the thread started from)
-- and is never sent to clients. next_seq hands out item sequence numbers
-- under the row's lock.
CREATE TABLE chatkit_threads (
	id               TEXT PRIMARY KEY,
	owner_id         TEXT NOT NULL,
	title            TEXT,
	status           TEXT NOT NULL DEFAULT '{"type":"active"}',
	metadata         TEXT NOT NULL DEFAULT '{}',
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	last_activity_at BIGINT NOT NULL,
	next_seq         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chatkit_threads_owner_created ON chatkit_threads (owner_id, created_at, id);
CREATE INDEX chatkit_threads_activity ON chatkit_threads (last_activity_at);

-- Items in insertion order (seq), body = the item's wire JSON. hidden items
-- (sdk_hidden_context, hidden_context_item) feed the model only. context
-- holds the page context sent with a user message (JSON), never echoed.
CREATE TABLE chatkit_items (
	thread_id  TEXT NOT NULL,
	id         TEXT NOT NULL,
	seq        BIGINT NOT NULL,
	type       TEXT NOT NULL,
	hidden     INTEGER NOT NULL DEFAULT 0,
	body       TEXT NOT NULL,
	context    TEXT,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (thread_id, id)
);
CREATE UNIQUE INDEX chatkit_items_seq ON chatkit_items (thread_id, seq);

-- Latest feedback per item (items.feedback).
CREATE TABLE chatkit_feedback (
	thread_id  TEXT NOT NULL,
	item_id    TEXT NOT NULL,
	owner_id   TEXT NOT NULL,
	kind       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (thread_id, item_id)
);

-- Usage per user per UTC day (YYYY-MM-DD): messages sent, replies finished,
-- failed turns, and latency sums (time to first token, whole reply).
CREATE TABLE chatkit_usage (
	owner_id       TEXT NOT NULL,
	day            TEXT NOT NULL,
	messages       BIGINT NOT NULL DEFAULT 0,
	replies        BIGINT NOT NULL DEFAULT 0,
	errors         BIGINT NOT NULL DEFAULT 0,
	cancelled      BIGINT NOT NULL DEFAULT 0,
	ttft_ms_sum    BIGINT NOT NULL DEFAULT 0,
	ttft_count     BIGINT NOT NULL DEFAULT 0,
	reply_ms_sum   BIGINT NOT NULL DEFAULT 0,
	reply_count    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (owner_id, day)
);
CREATE INDEX chatkit_usage_day ON chatkit_usage (day);
