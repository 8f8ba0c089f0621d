-- +goose Up
-- Whether an upload's quota usage was reserved (added to its partner's
-- counters) when its intent was written. An upload of a partner without a
-- quota has nothing to reserve: its usage is added when it is finished, in
-- the transaction that moves the intent into transfers (or by recovery), so
-- that the reservation before its 226 writes no partner row. Rows written
-- before this column were all reserved.
ALTER TABLE upload_intents ADD COLUMN usage_reserved BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE upload_intents DROP COLUMN usage_reserved;
