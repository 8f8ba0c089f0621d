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
-- A folder's message count, bytes and \Seen count, kept with every change
-- to its messages, so a mailbox's folder list does not count its messages.
ALTER TABLE mail_folders ADD COLUMN messages BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
UPDATE mail_folders f SET messages = c.n, bytes = c.bytes, seen = c.seen FROM (
    SELECT folder_id, COUNT(*) AS n, SUM(size) AS bytes,
        SUM(CASE WHEN ' ' || flags || ' ' LIKE '% \Seen %' ESCAPE '!' THEN 1 ELSE 0 END) AS seen
    FROM mail_messages GROUP BY folder_id) c
WHERE c.folder_id = f.id;

-- +goose Down
ALTER TABLE mail_folders DROP COLUMN seen;
ALTER TABLE mail_folders DROP COLUMN bytes;
ALTER TABLE mail_folders DROP COLUMN messages;
CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_partner_id ON accounts (partner_id);
DROP INDEX CONCURRENTLY IF EXISTS accounts_partner_username;
DROP INDEX CONCURRENTLY IF EXISTS transfers_path;
DROP INDEX CONCURRENTLY IF EXISTS transfers_op_status_started;
DROP INDEX CONCURRENTLY IF EXISTS transfers_operation;
