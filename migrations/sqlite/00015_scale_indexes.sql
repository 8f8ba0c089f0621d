-- +goose Up
-- Indexes measured with cmd/ferryscale (issue 22; see docs/performance.md).
-- The audit log filtered by operation, newest first.
CREATE INDEX transfers_operation ON transfers (operation, id);
-- Counts by operation, status and time (the dashboard).
CREATE INDEX transfers_op_status_started ON transfers (operation, status, started_at, bytes);
-- The path_prefix filter, as a range (SQLite's LIKE uses no index).
CREATE INDEX transfers_path ON transfers (path);
-- A partner's accounts a page at a time, by username.
CREATE INDEX accounts_partner_username ON accounts (partner_id, username);
DROP INDEX accounts_partner_id;
-- A folder's message count, bytes and \Seen count, kept with every change
-- to its messages, so a mailbox's folder list does not count its messages.
ALTER TABLE mail_folders ADD COLUMN messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
UPDATE mail_folders SET
    messages = (SELECT COUNT(*) FROM mail_messages m WHERE m.folder_id = mail_folders.id),
    bytes = (SELECT COALESCE(SUM(size), 0) FROM mail_messages m WHERE m.folder_id = mail_folders.id),
    seen = (SELECT COUNT(*) FROM mail_messages m WHERE m.folder_id = mail_folders.id
        AND ' ' || m.flags || ' ' LIKE '% \Seen %' ESCAPE '!');

-- +goose Down
ALTER TABLE mail_folders DROP COLUMN seen;
ALTER TABLE mail_folders DROP COLUMN bytes;
ALTER TABLE mail_folders DROP COLUMN messages;
CREATE INDEX accounts_partner_id ON accounts (partner_id);
DROP INDEX accounts_partner_username;
DROP INDEX transfers_path;
DROP INDEX transfers_op_status_started;
DROP INDEX transfers_operation;
