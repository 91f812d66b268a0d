-- OpenID provider (modules/oidc): people, their credentials and sessions,
-- signing keys, OAuth codes and tokens, consents and the audit log.
-- Timestamps are Unix milliseconds (UTC); booleans are 0/1. users, accounts,
-- sessions and verifications follow Better-Auth's data model (snake_case) so
-- the /api/auth/* compatibility layer and the Better-Auth importer fit them.
-- Codes, tokens and session tokens are stored as SHA-256 hashes (hex), never
-- raw.

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	email          TEXT NOT NULL UNIQUE,           -- lower-cased
	email_verified INTEGER NOT NULL DEFAULT 0,
	name           TEXT NOT NULL DEFAULT '',
	image          TEXT,
	role           TEXT NOT NULL DEFAULT 'user',   -- comma-separated roles
	banned         INTEGER NOT NULL DEFAULT 0,
	ban_reason     TEXT,
	ban_expires    BIGINT,
	metadata       TEXT NOT NULL DEFAULT '{}',
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

-- One row per way of signing in: provider_id 'credential' with account_id =
-- user id holds the password hash (PHC string: $argon2id$…, or an imported
-- bcrypt/scrypt hash); social providers hold upstream tokens.
CREATE TABLE accounts (
	id                       TEXT PRIMARY KEY,
	user_id                  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider_id              TEXT NOT NULL,
	account_id               TEXT NOT NULL,
	password                 TEXT,
	access_token             TEXT,
	refresh_token            TEXT,
	id_token                 TEXT,
	access_token_expires_at  BIGINT,
	refresh_token_expires_at BIGINT,
	scope                    TEXT,
	created_at               BIGINT NOT NULL,
	updated_at               BIGINT NOT NULL,
	UNIQUE (provider_id, account_id)
);
CREATE INDEX accounts_user ON accounts (user_id);

-- Server-side sign-in sessions; the cookie carries the raw token, the row its
-- hash. Sign-out deletes the row. auth_time is when the password was checked
-- (OIDC auth_time / max_age).
CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	token_hash      TEXT NOT NULL UNIQUE,
	user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at      BIGINT NOT NULL,
	auth_time       BIGINT NOT NULL,
	ip_address      TEXT NOT NULL DEFAULT '',
	user_agent      TEXT NOT NULL DEFAULT '',
	impersonated_by TEXT,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Short-lived proofs (e-mail verification, password reset): identifier like
-- 'reset-password:<hash>', value the user id or JSON.
CREATE TABLE verifications (
	id         TEXT PRIMARY KEY,
	identifier TEXT NOT NULL,
	value      TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX verifications_identifier ON verifications (identifier);

-- Signing keys shared by every node. private_key is AES-256-GCM sealed
-- (base64 of nonce || ciphertext, AAD = kid) with a key derived from the
-- installation secret. A key is published from created_at, signs from
-- sign_from to sign_until, and stays published until publish_until (after
-- every token it signed has expired).
CREATE TABLE oidc_signing_keys (
	kid           TEXT PRIMARY KEY,
	alg           TEXT NOT NULL,
	public_jwk    TEXT NOT NULL,
	private_key   TEXT NOT NULL,
	created_at    BIGINT NOT NULL,
	sign_from     BIGINT NOT NULL,
	sign_until    BIGINT NOT NULL,
	publish_until BIGINT NOT NULL
);

-- Authorization requests waiting for sign-in or consent (the hosted pages
-- carry only the id).
CREATE TABLE oidc_auth_requests (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL,
	params     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_at);

-- Authorization codes: single use (used_at), bound to the client, the
-- redirect URI and the PKCE challenge. grant_id names what a redemption
-- issued, so a second redemption revokes it.
CREATE TABLE oidc_codes (
	code_hash      TEXT PRIMARY KEY,
	grant_id       TEXT NOT NULL,
	client_id      TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	session_id     TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	scope          TEXT NOT NULL,
	nonce          TEXT NOT NULL DEFAULT '',
	code_challenge TEXT NOT NULL DEFAULT '',
	auth_time      BIGINT NOT NULL,
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	used_at        BIGINT
);
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);

-- Refresh tokens: opaque, rotated on every use. grant_id is the family: the
-- reuse of a rotated token (used_at set) revokes every token of the family.
CREATE TABLE oidc_refresh_tokens (
	token_hash TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	session_id TEXT NOT NULL,
	scope      TEXT NOT NULL,
	auth_time  BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT,
	revoked_at BIGINT
);
CREATE INDEX oidc_refresh_tokens_grant ON oidc_refresh_tokens (grant_id);
CREATE INDEX oidc_refresh_tokens_expires ON oidc_refresh_tokens (expires_at);

-- Issued JWT access tokens by jti, so that userinfo, introspection and
-- revocation can refuse one before it expires.
CREATE TABLE oidc_access_tokens (
	jti        TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT
);
CREATE INDEX oidc_access_tokens_grant ON oidc_access_tokens (grant_id);
CREATE INDEX oidc_access_tokens_expires ON oidc_access_tokens (expires_at);

-- Scopes a user has granted a client.
CREATE TABLE oidc_consents (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

-- Audit log: sign-up, sign-in (success and failure), sign-out, token issue,
-- refresh and reuse detection. ip is Caddy's client IP (trusted_proxies
-- honoured). No secrets in detail.
CREATE TABLE auth_events (
	id         TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL,
	event      TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	user_id    TEXT NOT NULL DEFAULT '',
	email      TEXT NOT NULL DEFAULT '',
	client_id  TEXT NOT NULL DEFAULT '',
	ip         TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_events_created ON auth_events (created_at);
CREATE INDEX auth_events_user ON auth_events (user_id, created_at);
