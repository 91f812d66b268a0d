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

-- ratelimit_apply is the atomic check-and-record for one key in a single
-- round trip. It takes a transaction-scoped advisory lock for the key first;
-- under READ COMMITTED every statement below then takes a fresh snapshot, so
-- it sees every event committed by the previous holder of the lock, on any
-- node. Called in autocommit, the lock is released when the call's implicit
-- transaction commits.
--
-- p_op: 'allow' records the event when every limit admits it; 'check'
-- records nothing; 'record' records regardless. p_windows (milliseconds) and
-- p_counts are the limits, pairwise. Returns whether an event was recorded
-- and the key's events before the call, newest first, at most max(p_counts)
-- of them; the caller computes the figures (remaining, reset) from those.
-- The admission rule, an event counts in window W while at > now - W, is the
-- same as the Go code's (limit.go: admits).
CREATE FUNCTION ratelimit_apply(
	p_zone TEXT, p_key TEXT, p_lock BIGINT, p_now BIGINT,
	p_windows BIGINT[], p_counts INTEGER[], p_op TEXT
) RETURNS TABLE (recorded BOOLEAN, events BIGINT[])
LANGUAGE plpgsql AS $$
DECLARE
	max_window BIGINT;
	max_count  INTEGER;
	ev         BIGINT[];
	ok         BOOLEAN := TRUE;
	n          INTEGER;
BEGIN
	PERFORM pg_advisory_xact_lock(p_lock);
	SELECT max(w) INTO max_window FROM unnest(p_windows) AS w;
	SELECT max(c) INTO max_count FROM unnest(p_counts) AS c;

	DELETE FROM ratelimit_events
	WHERE zone = p_zone AND key = p_key AND at <= p_now - max_window;

	SELECT coalesce(array_agg(s.at ORDER BY s.at DESC), '{}') INTO ev
	FROM (SELECT e.at FROM ratelimit_events e
	      WHERE e.zone = p_zone AND e.key = p_key
	      ORDER BY e.at DESC LIMIT max_count) AS s;

	IF p_op = 'allow' THEN
		FOR i IN 1 .. array_length(p_windows, 1) LOOP
			SELECT count(*) INTO n FROM unnest(ev) AS a WHERE a > p_now - p_windows[i];
			IF n >= p_counts[i] THEN
				ok := FALSE;
			END IF;
		END LOOP;
	END IF;

	IF p_op = 'record' OR (p_op = 'allow' AND ok) THEN
		INSERT INTO ratelimit_events (zone, key, at) VALUES (p_zone, p_key, p_now);
		-- Only the newest max_count events can matter: keep the log bounded
		-- even when failures are recorded past the limit.
		IF coalesce(array_length(ev, 1), 0) >= max_count THEN
			DELETE FROM ratelimit_events
			WHERE zone = p_zone AND key = p_key
			  AND at < CASE WHEN max_count > 1 THEN least(ev[max_count - 1], p_now) ELSE p_now END;
		END IF;
		RETURN QUERY SELECT TRUE, ev;
	ELSE
		RETURN QUERY SELECT FALSE, ev;
	END IF;
END
$$;
