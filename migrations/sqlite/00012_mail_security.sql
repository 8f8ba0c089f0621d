-- +goose Up
-- Public keys operators register for contacts (issue 18): an OpenPGP public
-- key (armored) or an S/MIME certificate (PEM), checked when added (names the
-- address, not expired nor revoked, usable for e-mail). Alerts to that address
-- are encrypted to it; signed mail from it is verified against it.
CREATE TABLE recipient_keys (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    expires_at  DATETIME,
    created_at  DATETIME NOT NULL,
    UNIQUE (email, kind, fingerprint)
);
CREATE INDEX recipient_keys_email ON recipient_keys (email);

-- encrypt_alerts: optional (alerts are encrypted to recipients that have a
-- key) or required (an alert waits, status blocked, until every recipient
-- has one: nothing goes out in clear).
ALTER TABLE partners ADD COLUMN encrypt_alerts TEXT NOT NULL DEFAULT 'optional';

-- A blocked alert is re-checked like a due one.
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending', 'blocked');

-- The signature check of a signed incoming message, made on delivery against
-- the sender's registered keys: '' (not signed), valid, invalid, unknown_key;
-- signer names the key.
ALTER TABLE mail_messages ADD COLUMN signature TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_messages ADD COLUMN signer TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE mail_messages DROP COLUMN signer;
ALTER TABLE mail_messages DROP COLUMN signature;
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
ALTER TABLE partners DROP COLUMN encrypt_alerts;
DROP TABLE recipient_keys;
