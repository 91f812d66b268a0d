-- A PostgreSQL schema made by the first release (migrations 0001-0004 in one
-- global sequence, plus a row in each table), as pg_dump --inserts wrote it,
-- with the schema name, SET lines and comments taken out. The upgrade test
-- loads it into a fresh schema and migrates it forward.
CREATE FUNCTION ratelimit_apply(p_zone text, p_key text, p_lock bigint, p_now bigint, p_windows bigint[], p_counts integer[], p_op text) RETURNS TABLE(recorded boolean, events bigint[])
    LANGUAGE plpgsql
    AS $$
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
CREATE TABLE accounts (
    id text NOT NULL,
    user_id text NOT NULL,
    provider_id text NOT NULL,
    account_id text NOT NULL,
    password text,
    access_token text,
    refresh_token text,
    id_token text,
    access_token_expires_at bigint,
    refresh_token_expires_at bigint,
    scope text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE TABLE auth_events (
    id text NOT NULL,
    created_at bigint NOT NULL,
    event text NOT NULL,
    outcome text NOT NULL,
    user_id text DEFAULT ''::text NOT NULL,
    email text DEFAULT ''::text NOT NULL,
    client_id text DEFAULT ''::text NOT NULL,
    ip text DEFAULT ''::text NOT NULL,
    user_agent text DEFAULT ''::text NOT NULL,
    detail text DEFAULT ''::text NOT NULL
);
CREATE TABLE chatkit_feedback (
    thread_id text NOT NULL,
    item_id text NOT NULL,
    owner_id text NOT NULL,
    kind text NOT NULL,
    created_at bigint NOT NULL
);
CREATE TABLE chatkit_items (
    thread_id text NOT NULL,
    id text NOT NULL,
    seq bigint NOT NULL,
    type text NOT NULL,
    hidden integer DEFAULT 0 NOT NULL,
    body text NOT NULL,
    context text,
    created_at bigint NOT NULL
);
CREATE TABLE chatkit_threads (
    id text NOT NULL,
    owner_id text NOT NULL,
    title text,
    status text DEFAULT '{"type":"active"}'::text NOT NULL,
    metadata text DEFAULT '{}'::text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    last_activity_at bigint NOT NULL,
    next_seq bigint DEFAULT 0 NOT NULL
);
CREATE TABLE chatkit_usage (
    owner_id text NOT NULL,
    day text NOT NULL,
    messages bigint DEFAULT 0 NOT NULL,
    replies bigint DEFAULT 0 NOT NULL,
    errors bigint DEFAULT 0 NOT NULL,
    cancelled bigint DEFAULT 0 NOT NULL,
    ttft_ms_sum bigint DEFAULT 0 NOT NULL,
    ttft_count bigint DEFAULT 0 NOT NULL,
    reply_ms_sum bigint DEFAULT 0 NOT NULL,
    reply_count bigint DEFAULT 0 NOT NULL
);
CREATE TABLE intellistack_meta (
    key text NOT NULL,
    value text NOT NULL,
    updated_at bigint NOT NULL
);
CREATE TABLE intellistack_migrations (
    version bigint NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at bigint NOT NULL
);
CREATE TABLE oidc_access_tokens (
    jti text NOT NULL,
    grant_id text NOT NULL,
    client_id text NOT NULL,
    user_id text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    revoked_at bigint
);
CREATE TABLE oidc_auth_requests (
    id text NOT NULL,
    client_id text NOT NULL,
    params text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE TABLE oidc_codes (
    code_hash text NOT NULL,
    grant_id text NOT NULL,
    client_id text NOT NULL,
    user_id text NOT NULL,
    session_id text NOT NULL,
    redirect_uri text NOT NULL,
    scope text NOT NULL,
    nonce text DEFAULT ''::text NOT NULL,
    code_challenge text DEFAULT ''::text NOT NULL,
    auth_time bigint NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at bigint
);
CREATE TABLE oidc_consents (
    user_id text NOT NULL,
    client_id text NOT NULL,
    scope text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE TABLE oidc_refresh_tokens (
    token_hash text NOT NULL,
    grant_id text NOT NULL,
    client_id text NOT NULL,
    user_id text NOT NULL,
    session_id text NOT NULL,
    scope text NOT NULL,
    auth_time bigint NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at bigint,
    revoked_at bigint
);
CREATE TABLE oidc_signing_keys (
    kid text NOT NULL,
    alg text NOT NULL,
    public_jwk text NOT NULL,
    private_key text NOT NULL,
    created_at bigint NOT NULL,
    sign_from bigint NOT NULL,
    sign_until bigint NOT NULL,
    publish_until bigint NOT NULL
);
CREATE TABLE ratelimit_events (
    zone text NOT NULL,
    key text NOT NULL,
    at bigint NOT NULL
);
CREATE TABLE sessions (
    id text NOT NULL,
    token_hash text NOT NULL,
    user_id text NOT NULL,
    expires_at bigint NOT NULL,
    auth_time bigint NOT NULL,
    ip_address text DEFAULT ''::text NOT NULL,
    user_agent text DEFAULT ''::text NOT NULL,
    impersonated_by text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE TABLE users (
    id text NOT NULL,
    email text NOT NULL,
    email_verified integer DEFAULT 0 NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    image text,
    role text DEFAULT 'user'::text NOT NULL,
    banned integer DEFAULT 0 NOT NULL,
    ban_reason text,
    ban_expires bigint,
    metadata text DEFAULT '{}'::text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE TABLE verifications (
    id text NOT NULL,
    identifier text NOT NULL,
    value text NOT NULL,
    expires_at bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
INSERT INTO accounts VALUES ('a-1', 'u-1', 'credential', 'u-1', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY', NULL, NULL, NULL, NULL, NULL, NULL, 1790000000000, 1790000000000);
INSERT INTO auth_events VALUES ('e-1', 1790000000000, 'sign_up', 'success', 'u-1', 'ada@example.com', '', '', '', '');
INSERT INTO chatkit_items VALUES ('thr_1', 'msg_1', 0, 'user_message', 0, '{"id":"msg_1","type":"user_message"}', NULL, 1790000000000);
INSERT INTO chatkit_items VALUES ('thr_1', 'msg_2', 1, 'assistant_message', 0, '{"id":"msg_2","type":"assistant_message"}', NULL, 1790000000001);
INSERT INTO chatkit_threads VALUES ('thr_1', 'u-1', 'Loops', '{"type":"active"}', '{}', 1790000000000, 1790000000000, 1790000000000, 2);
INSERT INTO chatkit_usage VALUES ('u-1', '2026-11-01', 1, 1, 0, 0, 0, 0, 0, 0);
INSERT INTO intellistack_meta VALUES ('created', '2026-11-01', 1790000000000);
INSERT INTO intellistack_migrations VALUES (1, 'store_meta', '01c72be6faffdd00af879e74103c2e25256a61e29ea99b3dbf4ab127da14dc10', 1795944215464);
INSERT INTO intellistack_migrations VALUES (2, 'ratelimit_events', 'a496bdcfebca7132103c27490f29ebcb3c23e2b1072ba3e2fc1c1639a2f72540', 1795944215477);
INSERT INTO intellistack_migrations VALUES (3, 'chatkit_threads', '4d84dc59a4eb8b64804fe01e2f7ab422cc278bedc05090325f6e0df84bd59dbf', 1795944215499);
INSERT INTO intellistack_migrations VALUES (4, 'oidc_core', 'ef4b5f65a4088e1afb3107c46e32bee600b0d00e6856e8e463dce151e0b6ca0a', 1795944215556);
INSERT INTO oidc_refresh_tokens VALUES ('rt-1', 'g-1', 'web', 'u-1', 's-1', 'openid', 1790000000000, 1790000000000, 1890000000000, NULL, NULL);
INSERT INTO ratelimit_events VALUES ('z', 'k', 1790000000000);
INSERT INTO sessions VALUES ('s-1', 'hash-s-1', 'u-1', 1890000000000, 1790000000000, '', '', NULL, 1790000000000, 1790000000000);
INSERT INTO users VALUES ('u-1', 'ada@example.com', 1, 'Ada', NULL, 'user', 0, NULL, NULL, '{}', 1790000000000, 1790000000000);
ALTER TABLE ONLY accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);
ALTER TABLE ONLY accounts
    ADD CONSTRAINT accounts_provider_id_account_id_key UNIQUE (provider_id, account_id);
ALTER TABLE ONLY auth_events
    ADD CONSTRAINT auth_events_pkey PRIMARY KEY (id);
ALTER TABLE ONLY chatkit_feedback
    ADD CONSTRAINT chatkit_feedback_pkey PRIMARY KEY (thread_id, item_id);
ALTER TABLE ONLY chatkit_items
    ADD CONSTRAINT chatkit_items_pkey PRIMARY KEY (thread_id, id);
ALTER TABLE ONLY chatkit_threads
    ADD CONSTRAINT chatkit_threads_pkey PRIMARY KEY (id);
ALTER TABLE ONLY chatkit_usage
    ADD CONSTRAINT chatkit_usage_pkey PRIMARY KEY (owner_id, day);
ALTER TABLE ONLY intellistack_meta
    ADD CONSTRAINT intellistack_meta_pkey PRIMARY KEY (key);
ALTER TABLE ONLY intellistack_migrations
    ADD CONSTRAINT intellistack_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY oidc_access_tokens
    ADD CONSTRAINT oidc_access_tokens_pkey PRIMARY KEY (jti);
ALTER TABLE ONLY oidc_auth_requests
    ADD CONSTRAINT oidc_auth_requests_pkey PRIMARY KEY (id);
ALTER TABLE ONLY oidc_codes
    ADD CONSTRAINT oidc_codes_pkey PRIMARY KEY (code_hash);
ALTER TABLE ONLY oidc_consents
    ADD CONSTRAINT oidc_consents_pkey PRIMARY KEY (user_id, client_id);
ALTER TABLE ONLY oidc_refresh_tokens
    ADD CONSTRAINT oidc_refresh_tokens_pkey PRIMARY KEY (token_hash);
ALTER TABLE ONLY oidc_signing_keys
    ADD CONSTRAINT oidc_signing_keys_pkey PRIMARY KEY (kid);
ALTER TABLE ONLY sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY sessions
    ADD CONSTRAINT sessions_token_hash_key UNIQUE (token_hash);
ALTER TABLE ONLY users
    ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY verifications
    ADD CONSTRAINT verifications_pkey PRIMARY KEY (id);
CREATE INDEX accounts_user ON accounts USING btree (user_id);
CREATE INDEX auth_events_created ON auth_events USING btree (created_at);
CREATE INDEX auth_events_user ON auth_events USING btree (user_id, created_at);
CREATE UNIQUE INDEX chatkit_items_seq ON chatkit_items USING btree (thread_id, seq);
CREATE INDEX chatkit_threads_activity ON chatkit_threads USING btree (last_activity_at);
CREATE INDEX chatkit_threads_owner_created ON chatkit_threads USING btree (owner_id, created_at, id);
CREATE INDEX chatkit_usage_day ON chatkit_usage USING btree (day);
CREATE INDEX oidc_access_tokens_expires ON oidc_access_tokens USING btree (expires_at);
CREATE INDEX oidc_access_tokens_grant ON oidc_access_tokens USING btree (grant_id);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests USING btree (expires_at);
CREATE INDEX oidc_codes_expires ON oidc_codes USING btree (expires_at);
CREATE INDEX oidc_refresh_tokens_expires ON oidc_refresh_tokens USING btree (expires_at);
CREATE INDEX oidc_refresh_tokens_grant ON oidc_refresh_tokens USING btree (grant_id);
CREATE INDEX ratelimit_events_zone_at ON ratelimit_events USING btree (zone, at);
CREATE INDEX ratelimit_events_zone_key_at ON ratelimit_events USING btree (zone, key, at);
CREATE INDEX sessions_expires ON sessions USING btree (expires_at);
CREATE INDEX sessions_user ON sessions USING btree (user_id);
CREATE INDEX verifications_identifier ON verifications USING btree (identifier);
ALTER TABLE ONLY accounts
    ADD CONSTRAINT accounts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE ONLY oidc_consents
    ADD CONSTRAINT oidc_consents_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE ONLY sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
