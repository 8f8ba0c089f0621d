-- +goose Up
-- People who sign in to the web admin with a username and password (issue
-- 8), besides API tokens. password_hash is argon2id in PHC format; the web
-- session cookie of a user is signed with a key derived from it, so a
-- password change ends the user's sessions on every node.
CREATE TABLE admin_users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ
);

-- +goose Down
DROP TABLE admin_users;
