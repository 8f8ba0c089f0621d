-- +goose Up
-- The EBCDIC code page of FTP's TYPE E for a partner's sessions: IBM-1047
-- (the z/OS default) or IBM-037 (US/Canada).
ALTER TABLE partners ADD COLUMN ebcdic_code_page TEXT NOT NULL DEFAULT 'IBM-1047';

-- +goose Down
ALTER TABLE partners DROP COLUMN ebcdic_code_page;
