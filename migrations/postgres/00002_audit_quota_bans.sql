-- +goose Up
-- The audit log of every login and file operation, and the two-phase record
-- of uploads being published (status 'committing' until the file is visible).
CREATE TABLE transfers (
    id           TEXT PRIMARY KEY,
    partner_id   TEXT REFERENCES partners(id) ON DELETE SET NULL,
    account_id   TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    username     TEXT NOT NULL DEFAULT '',
    protocol     TEXT NOT NULL,
    operation    TEXT NOT NULL,
    path         TEXT NOT NULL DEFAULT '',
    target_path  TEXT NOT NULL DEFAULT '',
    remote_addr  TEXT NOT NULL DEFAULT '',
    bytes        BIGINT NOT NULL DEFAULT 0,
    file_size    BIGINT NOT NULL DEFAULT 0,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    sha256       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    usage_bytes  BIGINT NOT NULL DEFAULT 0,
    usage_files  BIGINT NOT NULL DEFAULT 0,
    staging_path TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX transfers_partner ON transfers (partner_id, id);
CREATE INDEX transfers_account ON transfers (account_id, id);
CREATE INDEX transfers_started ON transfers (started_at);
CREATE INDEX transfers_committing ON transfers (status) WHERE status = 'committing';

-- Failed logins per client address, shared by every protocol and node.
CREATE TABLE auth_failures (
    id         TEXT PRIMARY KEY,
    ip         TEXT NOT NULL,
    protocol   TEXT NOT NULL,
    username   TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX auth_failures_ip ON auth_failures (ip, created_at);

CREATE TABLE bans (
    ip           TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    banned_until TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE bans;
DROP TABLE auth_failures;
DROP TABLE transfers;
