-- +goose NO TRANSACTION
-- +goose Up
-- Indexes measured with cmd/ferryscale at 10^5 and 10^7 audit rows (issue
-- 22; the plans are in docs/performance.md). Built CONCURRENTLY: uploads
-- and logins keep writing audit rows while a large table is indexed.
--
-- The audit log filtered by operation, newest first (API and web
-- transfers lists): a rare operation no longer reads the whole log
-- backwards to fill a page.
CREATE INDEX CONCURRENTLY IF NOT EXISTS transfers_operation ON transfers (operation, id);
-- Counts and sums by operation, status and time (the dashboard's 7-day
-- chart and today's failed logins) read only this index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS transfers_op_status_started ON transfers (operation, status, started_at) INCLUDE (bytes);
-- The path_prefix filter: LIKE 'prefix%' as an index range.
CREATE INDEX CONCURRENTLY IF NOT EXISTS transfers_path ON transfers (path text_pattern_ops);
-- A partner's accounts a page at a time, by username (keyset paging).
CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_partner_username ON accounts (partner_id, username);
DROP INDEX CONCURRENTLY IF EXISTS accounts_partner_id;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_partner_id ON accounts (partner_id);
DROP INDEX CONCURRENTLY IF EXISTS accounts_partner_username;
DROP INDEX CONCURRENTLY IF EXISTS transfers_path;
DROP INDEX CONCURRENTLY IF EXISTS transfers_op_status_started;
DROP INDEX CONCURRENTLY IF EXISTS transfers_operation;
