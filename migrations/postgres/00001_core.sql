-- +goose Up
CREATE TABLE partners (
    id            TEXT PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    tls_required  BOOLEAN NOT NULL DEFAULT FALSE,
    allowed_cidrs TEXT NOT NULL DEFAULT '',
    quota_bytes   BIGINT NOT NULL DEFAULT 0,
    quota_files   BIGINT NOT NULL DEFAULT 0,
    used_bytes    BIGINT NOT NULL DEFAULT 0,
    used_files    BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE partner_contacts (
    partner_id TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (partner_id, email)
);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    home_dir      TEXT NOT NULL DEFAULT '/',
    permissions   TEXT NOT NULL,
    tls_required  BOOLEAN NOT NULL DEFAULT FALSE,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    last_login_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_partner_id ON accounts (partner_id);

-- +goose Down
DROP TABLE accounts;
DROP TABLE partner_contacts;
DROP TABLE partners;
