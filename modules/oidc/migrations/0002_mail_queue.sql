-- Outgoing mail waiting for delivery (modules/oidc/mail). raw is the whole
-- RFC 5322 message as composed when it was queued; it holds single-use links,
-- so a row is deleted once delivered. next_attempt_at doubles as the claim:
-- a worker moves it forward by a lease before sending, so two nodes never
-- send one message at once, and a crashed send is retried when the lease ends.
CREATE TABLE oidc_mail_queue (
	id              TEXT PRIMARY KEY,
	recipient       TEXT NOT NULL,
	raw             TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      BIGINT NOT NULL
);
CREATE INDEX oidc_mail_queue_due ON oidc_mail_queue (next_attempt_at);
