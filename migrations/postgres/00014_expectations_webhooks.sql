-- +goose Up
-- Webhooks: HTTP endpoints told of events (upload.finished, expectation.missed,
-- ...). events is a comma-separated list; partner_id, when set, limits the
-- hook to one partner's events. The secret keys the HMAC signature of each
-- request, so it is kept as given (the API shows it only when it is created).
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    partner_id TEXT REFERENCES partners(id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The webhook outbox: one row per event and hook, inserted in the
-- transaction that makes the event true and claimed by the deliverers of
-- every node (FOR UPDATE SKIP LOCKED on PostgreSQL). Statuses as in
-- notifications: pending, sending (next_attempt_at is the lease end), sent,
-- dead. event_id is the event's idempotency key, the same for every hook and
-- every retry.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event           TEXT NOT NULL,
    partner_id      TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claim_token     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    response_code   INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, id);

-- Expected deliveries: per partner, files matching pattern in folder, count
-- of them, due at each deadline of the cron schedule in time_zone, with
-- grace_seconds of grace. starts_at anchors the first window.
CREATE TABLE expectations (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    name            TEXT NOT NULL DEFAULT '',
    folder          TEXT NOT NULL,
    pattern         TEXT NOT NULL,
    file_count      INTEGER NOT NULL,
    schedule        TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    grace_seconds   BIGINT NOT NULL DEFAULT 0,
    notify_contacts BOOLEAN NOT NULL DEFAULT TRUE,
    notify_emails   TEXT NOT NULL DEFAULT '',
    notify_webhooks BOOLEAN NOT NULL DEFAULT TRUE,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    starts_at       TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX expectations_partner ON expectations (partner_id, id);

-- One row per expectation and deadline, whichever node evaluated it: the
-- primary key on (expectation_id, deadline) makes the evaluation, and the
-- alert queued in its transaction, happen once across nodes and restarts.
-- outcome: met, late (within the grace) or missed. late_delivery_at: a
-- matching file came after a miss (its alert was queued then).
CREATE TABLE expectation_evaluations (
    expectation_id   TEXT NOT NULL REFERENCES expectations(id) ON DELETE CASCADE,
    deadline         TIMESTAMPTZ NOT NULL,
    partner_id       TEXT NOT NULL,
    window_start     TIMESTAMPTZ NOT NULL,
    outcome          TEXT NOT NULL,
    files            INTEGER NOT NULL,
    evaluated_at     TIMESTAMPTZ NOT NULL,
    late_delivery_at TIMESTAMPTZ,
    late_path        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (expectation_id, deadline)
);
CREATE INDEX expectation_evaluations_partner ON expectation_evaluations (partner_id, deadline);
-- The expectation evaluator reads a partner's uploads and renames of a window.
CREATE INDEX transfers_partner_finished ON transfers (partner_id, finished_at);

-- +goose Down
DROP INDEX transfers_partner_finished;
DROP TABLE expectation_evaluations;
DROP TABLE expectations;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
