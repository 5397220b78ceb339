package sqldb

import (
	"fmt"
	"time"
)

// TimePrecision is the resolution timestamps are stored with in both
// dialects. Milliseconds, because that is what SQLite's own clock (Now)
// gives, so values written by the database and by Go compare correctly.
const TimePrecision = time.Millisecond

// sqliteTimeLayout is how SQLite columns hold timestamps: UTC, fixed width,
// so that text order is time order (for years 0000–9999) and SQL compares
// them with < and >. It is the form strftime('%Y-%m-%dT%H:%M:%fZ') writes.
const sqliteTimeLayout = "2006-01-02T15:04:05.000Z"

// Time is the query argument for t in the dialect's timestamp column type
// (timestamptz in PostgreSQL, TEXT in SQLite), truncated to TimePrecision.
// The zero time is NULL.
func (db *DB) Time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(TimePrecision)
	if db.d.name == SQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// Time scans a timestamp column of either dialect; NULL scans as the zero
// time. The time is in UTC.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("sqldb: scan %T as a timestamp", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	p, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		return fmt.Errorf("sqldb: timestamp %q is not in the layout %s", s, sqliteTimeLayout)
	}
	t.Time = p
	return nil
}
