package store

import "context"

// CountNotifications returns how many outbox rows have each of statuses
// (all statuses when none is given); a status without rows is missing from
// the map. The admin API's /metrics reads the queue depth from it.
func (s *Store) CountNotifications(ctx context.Context, statuses ...string) (map[string]int64, error) {
	return s.countByStatus(ctx, &Notification{}, statuses)
}

// countByStatus counts the rows of model's table with each of statuses
// (all when none is given), the outboxes' status column.
func (s *Store) countByStatus(ctx context.Context, model any, statuses []string) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	q := s.q(ctx).Model(model).Select("status, COUNT(*) AS n").Group("status")
	if len(statuses) > 0 {
		q = q.Where("status IN ?", statuses)
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}
