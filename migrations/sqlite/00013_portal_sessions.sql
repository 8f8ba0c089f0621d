-- +goose Up
-- Partner portal sessions (issue 19). The session cookie holds a random
-- secret; this table holds its SHA-256. Signing out deletes the row. The
-- fingerprint is partners.Fingerprint of the account at sign-in: when the
-- account's password, permissions, home, TLS policy or enabled flags (or
-- its partner's) change, the portal ends the session at its next request,
-- as FTP and the mail servers close their live sessions.
CREATE TABLE portal_sessions (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
CREATE INDEX portal_sessions_account ON portal_sessions (account_id);

-- A second factor for the portal: an account's TOTP secret (base32, empty:
-- none), and a partner's demand that its accounts use one. A session whose
-- sign-in still waits for the code (or for the second factor to be set up,
-- when the partner demands one) has pending 'totp' or 'enroll'; it is no
-- session for anything else.
ALTER TABLE accounts ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
-- The last 30-second step whose code signed in: a code is good once.
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partners ADD COLUMN totp_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE portal_sessions ADD COLUMN pending TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE partners DROP COLUMN totp_required;
ALTER TABLE accounts DROP COLUMN totp_last_step;
ALTER TABLE accounts DROP COLUMN totp_secret;
DROP TABLE portal_sessions;
