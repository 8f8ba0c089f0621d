-- +goose Up
-- The notifier asks whether a partner's mailbox already holds an alert
-- (by Message-ID) before it copies one in; without this index that check
-- read every message of the partner, so it grew with the mailbox.
CREATE INDEX mail_messages_message_id ON mail_messages (partner_id, message_id);

-- +goose Down
DROP INDEX mail_messages_message_id;
