-- +goose Up
-- An upload between its quota reservation and its audit row: BeginUpload
-- writes it before the 226, the upload's finish (or recovery after a crash)
-- moves it into transfers in one transaction. It used to be a transfers
-- row in status 'committing', whose INSERT touched the table and all nine
-- of its indexes on the path every upload's reply waits for.
CREATE TABLE upload_intents (
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
    finished_at  TIMESTAMPTZ,
    encrypted_to TEXT NOT NULL DEFAULT '',
    signature    TEXT NOT NULL DEFAULT '',
    signer       TEXT NOT NULL DEFAULT ''
);
-- Uploads a crash left committing: recovery finds them here now (and
-- moves any a node of the previous version leaves there meanwhile, through
-- transfers_committing, which stays: see store.AdoptCommitting).
INSERT INTO upload_intents (id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr, bytes, file_size, duration_ms, sha256, status, error, usage_bytes, usage_files, staging_path, started_at, finished_at, encrypted_to, signature, signer)
    SELECT id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr, bytes, file_size, duration_ms, sha256, status, error, usage_bytes, usage_files, staging_path, started_at, finished_at, encrypted_to, signature, signer FROM transfers WHERE status = 'committing';
DELETE FROM transfers WHERE status = 'committing';

-- +goose Down
INSERT INTO transfers (id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr, bytes, file_size, duration_ms, sha256, status, error, usage_bytes, usage_files, staging_path, started_at, finished_at, encrypted_to, signature, signer)
    SELECT id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr, bytes, file_size, duration_ms, sha256, status, error, usage_bytes, usage_files, staging_path, started_at, finished_at, encrypted_to, signature, signer FROM upload_intents;
DROP TABLE upload_intents;
