-- +goose Up
-- The notification outbox: one row per alert (an upload, a quota crossing, a
-- test mail), inserted in the transaction that caused it and claimed by the
-- notifier workers of every node.
--
-- status: pending (waiting for next_attempt_at), sending (claimed; for these
-- next_attempt_at is the end of the claimer's lease, after which another
-- worker may take the row over), sent, dead (permanent failure or retries
-- exhausted; last_error says why).
-- batch_id: the row whose mail carries this one. It is the row's own id,
-- except for uploads folded into another row's digest mail; those follow
-- their batch's status.
-- message_id is fixed at insert, so a mail sent again after a crash carries
-- the same Message-ID.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    batch_id        TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    claim_token     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    recipients      TEXT NOT NULL DEFAULT '',
    mailbox_at      DATETIME,
    relayed_at      DATETIME,
    created_at      DATETIME NOT NULL,
    sent_at         DATETIME
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_partner ON notifications (partner_id, id);
CREATE INDEX notifications_status ON notifications (status, id);
CREATE INDEX notifications_batch ON notifications (batch_id);

-- Internal addresses (account managers...) that get a partner's alerts
-- besides the partner's own contacts, as envelope-only recipients.
CREATE TABLE partner_subscribers (
    partner_id TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (partner_id, email)
);

-- The highest quota threshold (percent) a partner has been alerted about,
-- so that each crossing mails once; it drops when usage does.
CREATE TABLE quota_alert_levels (
    partner_id TEXT PRIMARY KEY REFERENCES partners(id) ON DELETE CASCADE,
    level      INTEGER NOT NULL,
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE quota_alert_levels;
DROP TABLE partner_subscribers;
DROP TABLE notifications;
