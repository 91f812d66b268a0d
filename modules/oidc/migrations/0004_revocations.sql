-- Revoked access tokens, compactly, for bearer_jwt on every node: each
-- provider keeps these rows in memory and polls for new ones every two
-- seconds. kind is 'jti' (one access token), 'sid' (every token of a
-- sign-in session) or 'sub' (every token of the user issued before
-- revoked_at). A row is useless once the tokens it names have expired
-- (expires_at, the longest access-token life); the sweeper deletes it then.
CREATE TABLE oidc_revocations (
	kind       TEXT NOT NULL,
	value      TEXT NOT NULL,
	revoked_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (kind, value)
);
CREATE INDEX oidc_revocations_revoked ON oidc_revocations (revoked_at);
CREATE INDEX oidc_revocations_expires ON oidc_revocations (expires_at);
