-- +goose Up
-- Bearer tokens of the admin API. Only the SHA-256 of a token is kept; the
-- token itself is shown once, by `ferry token create`.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);

-- Every mutating call of the admin API: who (token), what (action, target,
-- outcome), when, and from where. token_id is not a foreign key: the
-- FERRY_ADMIN_TOKEN has no row, and the log outlives revoked tokens.
CREATE TABLE admin_audit (
    id          TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    token_name  TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    status      INTEGER NOT NULL,
    remote_addr TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL
);
CREATE INDEX admin_audit_token ON admin_audit (token_id, id);
CREATE INDEX admin_audit_created ON admin_audit (created_at);

-- +goose Down
DROP TABLE admin_audit;
DROP TABLE api_tokens;
