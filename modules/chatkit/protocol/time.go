package protocol

import (
	"encoding/json"
	"time"
)

// Time is a timestamp on the wire: RFC 3339 in UTC with millisecond precision
// and a Z suffix. The reference emits offset-less local times, which browsers
// read as local; an explicit Z keeps every client on UTC.
type Time struct{ time.Time }

// TimeLayout is how Time is written.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// NewTime truncates t to what the wire and the database keep (milliseconds).
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// TimeFromMillis converts a stored Unix-millisecond value.
func TimeFromMillis(ms int64) Time { return Time{time.UnixMilli(ms).UTC()} }

// Millis is the stored form.
func (t Time) Millis() int64 { return t.Time.UnixMilli() }

// MarshalJSON writes the wire form.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.Time.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 timestamp, and offset-less ones as the
// reference writes them (read as UTC).
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err
}
