-- +goose Up
-- A per-partner mailbox quota. mail_quota_bytes is the limit (0: unlimited);
-- mail_used_bytes is the sum of the sizes of the partner's stored messages
-- (a copy counts again), kept exact by the transactions that insert and
-- delete messages: a delivery adds with a conditional UPDATE of this row,
-- so concurrent deliveries cannot go past the quota.
ALTER TABLE partners ADD COLUMN mail_quota_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partners ADD COLUMN mail_used_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE partners SET mail_used_bytes = COALESCE(
    (SELECT SUM(m.size) FROM mail_messages m WHERE m.partner_id = partners.id), 0);

-- +goose Down
ALTER TABLE partners DROP COLUMN mail_used_bytes;
ALTER TABLE partners DROP COLUMN mail_quota_bytes;
