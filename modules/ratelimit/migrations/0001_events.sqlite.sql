-- ratelimit: the rolling log of events (admitted requests, recorded failures)
-- per zone and key. A key is stored as a digest (hex of 16 bytes of SHA-256),
-- never as the email or address it came from. `at` is Unix milliseconds.
-- Rows are pruned per key when the key is touched, and in batches by a
-- background sweeper, so the table holds at most the events that some window
-- can still see.
CREATE TABLE ratelimit_events (
	zone TEXT   NOT NULL,
	key  TEXT   NOT NULL,
	at   BIGINT NOT NULL
);
-- The request path: the newest events of one key.
CREATE INDEX ratelimit_events_zone_key_at ON ratelimit_events (zone, key, at);
-- The sweeper: expired events of one zone.
CREATE INDEX ratelimit_events_zone_at ON ratelimit_events (zone, at);
