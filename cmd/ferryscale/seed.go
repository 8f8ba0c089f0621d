package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/internal/benchkit"
)

// sizes are the row counts the seeder writes.
type sizes struct {
	partners, accounts, audit, messages, notifications, tokens int
	days                                                       int // the audit log spans this many days back from now
}

// sink writes rows of one table: PostgreSQL's COPY, or batched INSERTs in
// SQLite transactions.
type sink interface {
	write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error
}

// pgSink copies rows with COPY FROM STDIN.
type pgSink struct{ conn *pgx.Conn }

func (s pgSink) write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		r := row(i)
		i++
		return r, nil
	})
	if _, err := s.conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// sqliteSink inserts rows with one prepared statement, 10,000 per transaction.
type sqliteSink struct{ db *sql.DB }

func (s sqliteSink) write(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "),
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
	for start := 0; start < n; start += 10000 {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ps, err := tx.PrepareContext(ctx, stmt)
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		for i := start; i < min(n, start+10000); i++ {
			if _, err := ps.ExecContext(ctx, row(i)...); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		ps.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// world is what the seeder made and the measurements use.
type world struct {
	partnerIDs   []string
	partnerSlugs []string
	// accountsOf lists the account indexes of each partner.
	accountsOf [][]int
	accountIDs []string
	usernames  []string
	// What load reads back from the database.
	big, small partnerRef // the partner with the most accounts; the last by slug
	token      string
	tokenID    string
	password   string
}

func partnerID(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i) }
func accountID(i int) string { return fmt.Sprintf("00000000-0000-7001-8000-%012d", i) }

// timeID is a UUIDv7 with the millisecond timestamp of t, as store.NewID
// makes at t: the audit log and the outbox are ordered by ID.
func timeID(t time.Time, r *mrand.Rand) string {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint16(u[6:], uint16(r.Uint32()))
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// skew draws partner indexes: a Zipf spread, so that most partners are
// small and a few hold most rows (partner 0 the most).
type skew struct{ z *mrand.Zipf }

func newSkew(r *mrand.Rand, n int) skew { return skew{mrand.NewZipf(r, 1.1, 1, uint64(n-1))} }
func (s skew) next() int                { return int(s.z.Uint64()) }

// seed fills an empty, migrated database.
func seed(ctx context.Context, out sink, sz sizes, passwordHash string, w *world) error {
	r := mrand.New(mrand.NewPCG(1, 2))
	now := time.Now().UTC()
	start := now.Add(-time.Duration(sz.days) * 24 * time.Hour)
	step := func(what string, n int, f func() error) error {
		t0 := time.Now()
		if err := f(); err != nil {
			return err
		}
		benchkit.Logf("seeded %d %s in %s", n, what, time.Since(t0).Round(time.Millisecond))
		return nil
	}

	// Partners: slugs p00000..; partner 0 is the biggest.
	w.partnerIDs = make([]string, sz.partners)
	w.partnerSlugs = make([]string, sz.partners)
	for i := range sz.partners {
		w.partnerIDs[i], w.partnerSlugs[i] = partnerID(i), fmt.Sprintf("p%05d", i)
	}
	if err := step("partners", sz.partners, func() error {
		return out.write(ctx, "partners", []string{"id", "slug", "name", "created_at", "updated_at"}, sz.partners,
			func(i int) []any {
				return []any{w.partnerIDs[i], w.partnerSlugs[i], fmt.Sprintf("Partner %d Ltd", i), start, start}
			})
	}); err != nil {
		return err
	}

	// Accounts: one per partner, the rest spread by the skew.
	pk := newSkew(r, sz.partners)
	w.accountsOf = make([][]int, sz.partners)
	w.accountIDs = make([]string, sz.accounts)
	w.usernames = make([]string, sz.accounts)
	owner := make([]int, sz.accounts)
	for i := range sz.accounts {
		p := i
		if i >= sz.partners {
			p = pk.next()
		}
		owner[i] = p
		w.accountsOf[p] = append(w.accountsOf[p], i)
		w.accountIDs[i], w.usernames[i] = accountID(i), fmt.Sprintf("u%07d", i)
	}
	if err := step("accounts", sz.accounts, func() error {
		return out.write(ctx, "accounts", []string{"id", "partner_id", "username", "password_hash", "permissions", "created_at", "updated_at"},
			sz.accounts, func(i int) []any {
				return []any{w.accountIDs[i], w.partnerIDs[owner[i]], w.usernames[i], passwordHash,
					"list,download,upload,overwrite,delete,rename,mkdir,mail", start, start}
			})
	}); err != nil {
		return err
	}

	// Audit rows in time order (as they are written), IDs from their time.
	ops := []struct {
		op   string
		frac float64
	}{{"login", 0.40}, {"download", 0.25}, {"upload", 0.25}, {"delete", 0.05}, {"rename", 0.02}, {"mkdir", 0.02}, {"rmdir", 0.01}}
	span := now.Sub(start)
	if err := step("audit rows", sz.audit, func() error {
		return out.write(ctx, "transfers", []string{"id", "partner_id", "account_id", "username", "protocol", "operation",
			"path", "remote_addr", "bytes", "file_size", "duration_ms", "sha256", "status", "error", "started_at", "finished_at"},
			sz.audit, func(i int) []any {
				t := start.Add(time.Duration(float64(span) * float64(i) / float64(sz.audit)))
				p := pk.next()
				acc := w.accountsOf[p][r.IntN(len(w.accountsOf[p]))]
				x, op := r.Float64(), "rmdir"
				for _, o := range ops {
					if x < o.frac {
						op = o.op
						break
					}
					x -= o.frac
				}
				status, errText := "ok", ""
				if r.IntN(100) < 3 {
					status, errText = "failed", "550 not allowed"
				}
				var bytes, size int64
				sha := ""
				path := fmt.Sprintf("/in/f%06d.dat", r.IntN(100000))
				if op == "upload" || op == "download" {
					bytes = int64(r.ExpFloat64() * 1e6)
					size = bytes
				}
				if op == "upload" {
					sha = fmt.Sprintf("%064x", r.Uint64())
				}
				if op == "login" {
					path = ""
				}
				fin := t.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
				return []any{timeID(t, r), w.partnerIDs[p], w.accountIDs[acc], w.usernames[acc], "ftp", op, path,
					fmt.Sprintf("192.0.2.%d:%d", r.IntN(250)+1, 40000+r.IntN(20000)), bytes, size, int64(fin.Sub(t) / time.Millisecond),
					sha, status, errText, t, fin}
			})
	}); err != nil {
		return err
	}

	// Outbox: mostly sent, some dead, a few pending, spread like the audit.
	if err := step("notifications", sz.notifications, func() error {
		return out.write(ctx, "notifications", []string{"id", "partner_id", "kind", "status", "batch_id", "message_id",
			"payload", "attempts", "next_attempt_at", "recipients", "created_at", "sent_at", "claimed_once"},
			sz.notifications, func(i int) []any {
				t := start.Add(time.Duration(float64(span) * float64(i) / float64(max(sz.notifications, 1))))
				id := timeID(t, r)
				kind := "upload"
				switch x := r.IntN(100); {
				case x < 3:
					kind = "quota"
				case x < 4:
					kind = "test"
				}
				status, attempts := "sent", 1
				var sent any = t.Add(time.Second)
				switch x := r.IntN(1000); {
				case x < 10:
					status, attempts, sent = "dead", 8, nil
				case x < 12 && i > sz.notifications-1000:
					status, attempts, sent = "pending", 0, nil
				}
				payload := fmt.Sprintf(`{"transfer_id":"","path":"/in/f%06d.dat","size":%d,"sha256":"","username":"u","started_at":"%s","finished_at":"%s"}`,
					r.IntN(100000), r.IntN(1<<20), t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
				if kind != "upload" {
					payload = "{}"
				}
				return []any{id, w.partnerIDs[pk.next()], kind, status, id, id + "@scale.ferry.invalid", payload, attempts, t,
					"ops@example.com", t, sent, attempts > 0}
			})
	}); err != nil {
		return err
	}

	// Mailboxes: an INBOX for each partner that gets mail, every message on
	// one blob row (the measurements read headers, not bodies).
	if sz.messages > 0 {
		folder := map[int]int64{} // partner -> messages so far
		msgPartner := make([]int, sz.messages)
		for i := range msgPartner {
			msgPartner[i] = pk.next()
			folder[msgPartner[i]]++
		}
		folderIDs := make([]int, 0, len(folder))
		for p := range folder {
			folderIDs = append(folderIDs, p)
		}
		if err := step("mail folders", len(folderIDs), func() error {
			return out.write(ctx, "mail_folders", []string{"id", "partner_id", "name", "uid_validity", "uid_next", "modseq", "created_at",
				"messages", "bytes"},
				len(folderIDs), func(i int) []any {
					p := folderIDs[i]
					return []any{folderID(p), w.partnerIDs[p], "INBOX", int64(i + 1), folder[p] + 1, folder[p] + 1, start,
						folder[p], 2048 * folder[p]}
				})
		}); err != nil {
			return err
		}
		if err := out.write(ctx, "mail_blobs", []string{"key", "size", "created_at"}, 1, func(int) []any {
			return []any{"scale-blob", int64(2048), start}
		}); err != nil {
			return err
		}
		uid := map[int]int64{}
		if err := step("mail messages", sz.messages, func() error {
			return out.write(ctx, "mail_messages", []string{"id", "partner_id", "folder_id", "uid", "modseq", "internal_date",
				"size", "blob_key", "header", "subject", "from_addr", "to_addr", "message_id"},
				sz.messages, func(i int) []any {
					t := start.Add(time.Duration(float64(span) * float64(i) / float64(sz.messages)))
					p := msgPartner[i]
					uid[p]++
					mid := fmt.Sprintf("m%d@scale.ferry.invalid", i)
					hdr := fmt.Sprintf("From: a@example.com\r\nTo: %s@ferry.invalid\r\nSubject: Order %d\r\nMessage-ID: <%s>\r\n\r\n", w.partnerSlugs[p], i, mid)
					return []any{timeID(t, r), w.partnerIDs[p], folderID(p), uid[p], uid[p], t, int64(2048), "scale-blob",
						[]byte(hdr), fmt.Sprintf("Order %d", i), "a@example.com", w.partnerSlugs[p] + "@ferry.invalid", mid}
				})
		}); err != nil {
			return err
		}
	}

	// API tokens of other admins (load adds the one the measurements use).
	return step("API tokens", sz.tokens, func() error {
		return out.write(ctx, "api_tokens", []string{"id", "name", "role", "token_hash", "created_at"}, sz.tokens,
			func(i int) []any {
				id := fmt.Sprintf("00000000-0000-7002-8000-%012d", i)
				return []any{id, fmt.Sprintf("token %d", i), "admin", hashToken(fmt.Sprintf("other token %d", i)), start}
			})
	})
}

// hashToken is what api_tokens keeps of a token.
func hashToken(token string) string { return adminauth.HashToken(token) }

func randRead(b []byte) (int, error) { return rand.Read(b) }

func folderID(p int) string { return fmt.Sprintf("00000000-0000-7003-8000-%012d", p) }

// zipfShare is the share of rows the biggest partner gets (for the log).
func zipfShare(n int) float64 {
	h := 0.0
	for k := 1; k <= n; k++ {
		h += 1 / math.Pow(float64(k), 1.1)
	}
	return 1 / h
}
