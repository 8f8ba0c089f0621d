-- +goose Up
-- Web admin sessions. The session cookie carries a random secret besides
-- its signature; this table holds the secret's SHA-256. Signing out
-- deletes the row, so a copy of the cookie stops working on every node at
-- once instead of living until it expires.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- +goose Down
DROP TABLE web_sessions;
