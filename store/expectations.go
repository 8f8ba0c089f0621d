package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// Expectation is an expected delivery of a partner: FileCount files
// matching Pattern in Folder by each deadline of Schedule (cron) in
// TimeZone, with GraceSeconds of grace. Package expect owns its meaning.
type Expectation struct {
	ID             string
	PartnerID      string
	Name           string
	Folder         string
	Pattern        string
	FileCount      int
	Schedule       string
	TimeZone       string
	GraceSeconds   int64
	NotifyContacts bool
	NotifyEmails   string // comma-separated operator addresses
	NotifyWebhooks bool
	Enabled        bool
	StartsAt       time.Time // the first window opens here
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Evaluation is the outcome of one expectation at one deadline.
type Evaluation struct {
	ExpectationID  string    `gorm:"primaryKey"`
	Deadline       time.Time `gorm:"primaryKey"`
	PartnerID      string
	WindowStart    time.Time
	Outcome        string // met, late, missed
	Files          int
	EvaluatedAt    time.Time
	LateDeliveryAt *time.Time // a file came after a miss, then
	LatePath       string
}

// TableName keeps gorm on the migration's table name.
func (Evaluation) TableName() string { return "expectation_evaluations" }

// Evaluation outcomes.
const (
	OutcomeMet    = "met"
	OutcomeLate   = "late"
	OutcomeMissed = "missed"
)

// CreateExpectation stores x; ID and times are filled in (StartsAt: now,
// unless set).
func (s *Store) CreateExpectation(ctx context.Context, x *Expectation) error {
	now := dbTime(time.Now())
	if x.ID == "" {
		x.ID = NewID()
	}
	if x.StartsAt.IsZero() {
		x.StartsAt = now
	}
	x.StartsAt, x.CreatedAt, x.UpdatedAt = dbTime(x.StartsAt), now, now
	return translate(s.q(ctx).Select("*").Create(x).Error)
}

// UpdateExpectation saves every field of x but its partner and creation.
func (s *Store) UpdateExpectation(ctx context.Context, x *Expectation) error {
	x.UpdatedAt = dbTime(time.Now())
	x.StartsAt = dbTime(x.StartsAt)
	res := s.q(ctx).Model(&Expectation{}).Where("id = ?", x.ID).Select("*").
		Omit("id", "partner_id", "created_at").Updates(x)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteExpectation deletes an expectation and its evaluations.
func (s *Store) DeleteExpectation(ctx context.Context, id string) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("expectation_id = ?", id).Delete(&Evaluation{}).Error; err != nil {
			return translate(err)
		}
		res := tx.q(ctx).Where("id = ?", id).Delete(&Expectation{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ExpectationByID returns one expectation.
func (s *Store) ExpectationByID(ctx context.Context, id string) (*Expectation, error) {
	var x Expectation
	if err := s.q(ctx).Where("id = ?", id).Take(&x).Error; err != nil {
		return nil, translate(err)
	}
	return &x, nil
}

// ListExpectations returns a partner's expectations ("" for every
// partner's), oldest first.
func (s *Store) ListExpectations(ctx context.Context, partnerID string) ([]Expectation, error) {
	q := s.q(ctx).Order("partner_id, id")
	if partnerID != "" {
		q = q.Where("partner_id = ?", partnerID)
	}
	var out []Expectation
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// LastEvaluation returns an expectation's evaluation of the latest
// deadline, or ErrNotFound when none was evaluated yet.
func (s *Store) LastEvaluation(ctx context.Context, expectationID string) (*Evaluation, error) {
	var e Evaluation
	if err := s.q(ctx).Where("expectation_id = ?", expectationID).Order("deadline DESC").Take(&e).Error; err != nil {
		return nil, translate(err)
	}
	return &e, nil
}

// InsertEvaluation records e unless the deadline was evaluated already (by
// this or another node), and reports whether this call recorded it: only
// then may the caller queue its alerts, on the same transaction.
func (s *Store) InsertEvaluation(ctx context.Context, e *Evaluation) (bool, error) {
	e.Deadline, e.WindowStart, e.EvaluatedAt = dbTime(e.Deadline), dbTime(e.WindowStart), dbTime(e.EvaluatedAt)
	res := s.q(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(e)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// MarkLateDelivery records that a file came after a missed deadline,
// unless that was recorded already; it reports whether this call did.
func (s *Store) MarkLateDelivery(ctx context.Context, expectationID string, deadline, at time.Time, path string) (bool, error) {
	res := s.q(ctx).Model(&Evaluation{}).
		Where("expectation_id = ? AND deadline = ? AND outcome = ? AND late_delivery_at IS NULL", expectationID, dbTime(deadline), OutcomeMissed).
		Updates(map[string]any{"late_delivery_at": dbTime(at), "late_path": path})
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// EvaluationFilter selects evaluations, latest deadline first.
type EvaluationFilter struct {
	PartnerID     string
	ExpectationID string
	Since, Until  time.Time // deadlines in [Since, Until)
	Limit         int
}

// ListEvaluations returns evaluations matching f, latest deadline first.
func (s *Store) ListEvaluations(ctx context.Context, f EvaluationFilter) ([]Evaluation, error) {
	q := s.q(ctx).Order("deadline DESC, expectation_id")
	if f.PartnerID != "" {
		q = q.Where("partner_id = ?", f.PartnerID)
	}
	if f.ExpectationID != "" {
		q = q.Where("expectation_id = ?", f.ExpectationID)
	}
	if !f.Since.IsZero() {
		q = q.Where("deadline >= ?", dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("deadline < ?", dbTime(f.Until))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var out []Evaluation
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// ArrivalsBetween returns the audit rows by which files may have arrived
// in a partner's folder ("/in": in it or below) in (from, to]: completed
// uploads there and renames to there, by the time they finished, oldest
// first.
func (s *Store) ArrivalsBetween(ctx context.Context, partnerID, folder string, from, to time.Time) ([]Transfer, error) {
	prefix := escapeLike(folder)
	if folder != "/" {
		prefix += "/"
	}
	var out []Transfer
	err := s.q(ctx).Where("partner_id = ? AND status = ? AND finished_at > ? AND finished_at <= ?",
		partnerID, StatusOK, dbTime(from), dbTime(to)).
		Where(s.q(ctx).Where("operation = ? AND path LIKE ? ESCAPE '\\'", OpUpload, prefix+"%").
			Or("operation = ? AND target_path LIKE ? ESCAPE '\\'", OpRename, prefix+"%")).
		Order("finished_at, id").Find(&out).Error
	return out, translate(err)
}
