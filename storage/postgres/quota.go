package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-chat/parley/storage"
)

// DayUsage returns what the visitor uploaded on the UTC day of t.
func (fs *Files) DayUsage(ctx context.Context, visitorID string, t time.Time) (storage.FileUsage, error) {
	u, err := dayUsage(ctx, fs.st.pool, visitorID, t)
	if err != nil {
		return storage.FileUsage{}, fmt.Errorf("postgres: file usage: %w", err)
	}
	return u, nil
}

// selectDayUsage sums a visitor's files in a range of IDs.
const selectDayUsage = `SELECT count(*), COALESCE(sum(size), 0) FROM files
	WHERE visitor_id = $1 AND id >= $2 AND id < $3`

// dayUsage sums the visitor's files of the UTC day of t: the day's file
// IDs are one range of files_by_visitor (storage.FileDay), as long as the
// quota.
func dayUsage(ctx context.Context, q querier, visitorID string, t time.Time) (storage.FileUsage, error) {
	from, to := storage.FileDay(t)
	var u storage.FileUsage
	err := q.QueryRow(ctx, selectDayUsage, visitorID, from, to).Scan(&u.Files, &u.Bytes)
	return u, err
}
