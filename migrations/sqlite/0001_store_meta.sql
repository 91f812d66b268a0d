-- The store's own key/value table: facts about this installation that every
-- module and every node must agree on (for example when it was created).
CREATE TABLE intellistack_meta (
	key        TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
