-- +goose NO TRANSACTION
-- +goose Up
-- The notifier asks whether a partner's mailbox already holds an alert
-- (by Message-ID) before it copies one in; without this index that check
-- read every message of the partner, so it grew with the mailbox. Built
-- CONCURRENTLY: mail keeps arriving while a large table is indexed.
CREATE INDEX CONCURRENTLY IF NOT EXISTS mail_messages_message_id ON mail_messages (partner_id, message_id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS mail_messages_message_id;
