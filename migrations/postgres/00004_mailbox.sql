-- +goose Up
-- Partner mailboxes. Metadata lives here; raw RFC 5322 messages are immutable
-- blobs under <data dir>/mail, named by mail_blobs.key.

-- Counters that must never go back, whatever the clock does (UIDVALIDITY).
CREATE TABLE mail_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO mail_counters (name, value) VALUES ('uidvalidity', 0);

-- A folder of a partner's mailbox; "INBOX" always exists once mail arrived.
-- uid_next is bumped inside the delivery transaction (UIDs are never reused);
-- modseq grows with every change to the folder or one of its messages.
CREATE TABLE mail_folders (
    id           TEXT PRIMARY KEY,
    partner_id   TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid_next     BIGINT NOT NULL DEFAULT 1,
    modseq       BIGINT NOT NULL DEFAULT 1,
    subscribed   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (partner_id, name)
);

-- One stored message body. Several messages (COPY) may share one blob; a
-- blob row without messages is collected by the sweep, then its file.
CREATE TABLE mail_blobs (
    key        TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE mail_messages (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    folder_id     TEXT NOT NULL REFERENCES mail_folders(id) ON DELETE CASCADE,
    uid           BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    flags         TEXT NOT NULL DEFAULT '',
    internal_date TIMESTAMPTZ NOT NULL,
    size          BIGINT NOT NULL,
    blob_key      TEXT NOT NULL REFERENCES mail_blobs(key),
    header        BYTEA NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    from_addr     TEXT NOT NULL DEFAULT '',
    to_addr       TEXT NOT NULL DEFAULT '',
    message_id    TEXT NOT NULL DEFAULT '',
    sent_at       TIMESTAMPTZ,
    UNIQUE (folder_id, uid)
);
CREATE INDEX mail_messages_modseq ON mail_messages (folder_id, modseq);
CREATE INDEX mail_messages_blob ON mail_messages (blob_key);
CREATE INDEX mail_messages_partner ON mail_messages (partner_id);

-- The POP3 maildrop lock, shared by every node; a crashed holder's lock
-- expires unless renewed.
CREATE TABLE mail_locks (
    folder_id  TEXT PRIMARY KEY REFERENCES mail_folders(id) ON DELETE CASCADE,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE mail_locks;
DROP TABLE mail_messages;
DROP TABLE mail_blobs;
DROP TABLE mail_folders;
DROP TABLE mail_counters;
