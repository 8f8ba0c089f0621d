-- +goose Up
-- claimed_once: the batch has been claimed at least once, so its content
-- (the uploads folded into it) is fixed. A digest folds pending uploads
-- into a batch only on its very first claim, and only uploads never
-- claimed themselves: a resend, including one an operator asks for after
-- the batch went dead (which resets attempts), must carry the same content
-- under the same Message-ID as the first try. Rows that were claimed before
-- this column existed are marked from what they left behind.
ALTER TABLE notifications ADD COLUMN claimed_once BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE notifications SET claimed_once = TRUE
WHERE attempts > 0 OR status <> 'pending' OR batch_id <> id
   OR mailbox_at IS NOT NULL OR relayed_at IS NOT NULL OR sent_at IS NOT NULL;

-- +goose Down
ALTER TABLE notifications DROP COLUMN claimed_once;
