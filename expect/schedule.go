package expect

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is an expectation's deadlines: a cron schedule read in a time
// zone, so that "0 6 * * 1-5" in Europe/Berlin is 06:00 Berlin time all
// year, whatever the UTC offset of the day.
type Schedule struct {
	Spec string // the cron expression (the "every ... by" form translated)
	Loc  *time.Location
	cron cron.Schedule
}

// Next returns the first deadline after t (the zero time if there is none
// within five years). A wall-clock time that happens twice, on the day
// the clocks go back, is one deadline, the first; one that does not
// happen, in the hour skipped when they go forward, is no deadline that
// day (cron's rule).
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.In(s.Loc)
	n := s.cron.Next(t)
	if !n.IsZero() && sameWallClock(n, t) {
		n = s.cron.Next(n)
	}
	return n
}

// sameWallClock reports whether a and b (in one location) read the same
// date and minute: the repeated hour when clocks go back.
func sameWallClock(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

var everyBy = regexp.MustCompile(`^every\s+(day|weekday|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\s+by\s+(\d{1,2}):(\d{2})$`)

var weekdays = map[string]string{"day": "*", "weekday": "1-5", "sunday": "0", "monday": "1", "tuesday": "2",
	"wednesday": "3", "thursday": "4", "friday": "5", "saturday": "6"}

// CronSpec translates a schedule as an administrator writes it into a
// cron expression: five cron fields ("0 6 * * 1-5") as they are, or
// "every weekday by 06:00", "every day by 18:30", "every monday by 9:00".
func CronSpec(schedule string) (string, error) {
	s := strings.Join(strings.Fields(strings.ToLower(schedule)), " ")
	if m := everyBy.FindStringSubmatch(s); m != nil {
		var h, min int
		if _, err := fmt.Sscanf(m[2]+" "+m[3], "%d %d", &h, &min); err != nil || h > 23 || min > 59 {
			return "", fmt.Errorf("%q: the time must be HH:MM from 00:00 to 23:59", schedule)
		}
		return fmt.Sprintf("%d %d * * %s", min, h, weekdays[m[1]]), nil
	}
	spec := strings.Join(strings.Fields(schedule), " ")
	if strings.HasPrefix(spec, "@every") || strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return "", fmt.Errorf("%q: give five cron fields (minute hour day month weekday) or \"every weekday by 06:00\"; the time zone is a field of its own", schedule)
	}
	if len(strings.Fields(spec)) != 5 && !strings.HasPrefix(spec, "@") {
		return "", fmt.Errorf("%q: give five cron fields (minute hour day month weekday) or \"every weekday by 06:00\"", schedule)
	}
	return spec, nil
}

// ParseSchedule reads schedule in the IANA time zone zone.
func ParseSchedule(schedule, zone string) (*Schedule, error) {
	spec, err := CronSpec(schedule)
	if err != nil {
		return nil, err
	}
	c, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", schedule, err)
	}
	loc, err := LoadZone(zone)
	if err != nil {
		return nil, err
	}
	s := &Schedule{Spec: spec, Loc: loc, cron: c}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q has no deadline in the next five years", schedule)
	}
	return s, nil
}

// LoadZone loads an IANA time zone name ("Europe/Berlin", "UTC"). The
// names "" and "Local" are refused: a deadline must not depend on the
// server's settings.
func LoadZone(zone string) (*time.Location, error) {
	if zone == "" || zone == "Local" {
		return nil, errors.New("give an IANA time zone name such as Europe/Berlin or UTC")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("%q is no IANA time zone name (such as Europe/Berlin or UTC)", zone)
	}
	return loc, nil
}

// CheckPattern tells whether pattern is a glob path.Match accepts, for
// one file name (no slash).
func CheckPattern(pattern string) error {
	if pattern == "" {
		return errors.New("give a file name pattern such as *.csv")
	}
	if strings.Contains(pattern, "/") {
		return errors.New("a pattern matches file names, without a slash; put the folder in folder")
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("%q is no valid glob pattern: %w", pattern, err)
	}
	return nil
}

// CleanFolder returns folder as an absolute, clean path in the partner's
// tree ("in" and "/in/" are "/in").
func CleanFolder(folder string) string { return path.Clean("/" + strings.TrimSpace(folder)) }

// Matches reports whether the file at p (a path in the partner's tree) is
// one the expectation counts: directly in folder, its name matching
// pattern.
func Matches(folder, pattern, p string) bool {
	if path.Dir(p) != folder {
		return false
	}
	ok, err := path.Match(pattern, path.Base(p))
	return err == nil && ok
}
