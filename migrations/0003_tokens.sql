-- Sign-in tokens: browser sessions (cookie) and API tokens for scripts (Authorization: Bearer).
-- Only a SHA-256 of each token is stored; the token itself is shown once, when issued.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    user_id      TEXT NOT NULL REFERENCES users (id),
    token_hash   TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name         TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
