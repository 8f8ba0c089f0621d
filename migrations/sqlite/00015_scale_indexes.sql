-- +goose Up
-- Indexes measured with cmd/ferryscale (issue 22; see docs/performance.md).
-- The audit log filtered by operation, newest first.
CREATE INDEX transfers_operation ON transfers (operation, id);
-- Counts by operation, status and time (the dashboard).
CREATE INDEX transfers_op_status_started ON transfers (operation, status, started_at, bytes);
-- A partner's accounts a page at a time, by username.
CREATE INDEX accounts_partner_username ON accounts (partner_id, username);
DROP INDEX accounts_partner_id;

-- +goose Down
CREATE INDEX accounts_partner_id ON accounts (partner_id);
DROP INDEX accounts_partner_username;
DROP INDEX transfers_op_status_started;
DROP INDEX transfers_operation;
