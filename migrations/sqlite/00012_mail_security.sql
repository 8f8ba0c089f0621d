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

-- Partner files: encrypt_uploads lists the addresses (the company's internal
-- systems) whose registered OpenPGP keys each finished upload is encrypted to
-- at publish (name.ext.pgp; empty: off); verify_uploads checks a detached
-- .sig/.asc against the partner's contacts' keys. The audit row keeps the
-- result (signature, signer) and the keys a file was encrypted to.
ALTER TABLE partners ADD COLUMN encrypt_uploads TEXT NOT NULL DEFAULT '';
ALTER TABLE partners ADD COLUMN verify_uploads BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE transfers ADD COLUMN encrypted_to TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN signature TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN signer TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE transfers DROP COLUMN signer;
ALTER TABLE transfers DROP COLUMN signature;
ALTER TABLE transfers DROP COLUMN encrypted_to;
ALTER TABLE partners DROP COLUMN verify_uploads;
ALTER TABLE partners DROP COLUMN encrypt_uploads;
ALTER TABLE mail_messages DROP COLUMN signer;
ALTER TABLE mail_messages DROP COLUMN signature;
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
ALTER TABLE partners DROP COLUMN encrypt_alerts;
DROP TABLE recipient_keys;
