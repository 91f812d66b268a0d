package ratelimit

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	day := Limit{Count: 3, Window: 24 * time.Hour}
	minute := Limit{Count: 2, Window: time.Minute}
	const now = int64(100_000_000)
	h := time.Hour.Milliseconds()
	tests := []struct {
		name      string
		events    []int64 // newest first
		limits    []Limit
		allowed   bool
		limit     Limit
		remaining int
		reset     time.Duration
		retry     time.Duration
	}{
		{"empty", nil, []Limit{day}, true, day, 3, 0, 0},
		{"one in window", []int64{now - h}, []Limit{day}, true, day, 2, 23 * time.Hour, 0},
		{"full", []int64{now - h, now - 2*h, now - 5*h}, []Limit{day}, false, day, 0, 19 * time.Hour, 19 * time.Hour},
		{"oldest just expired", []int64{now - h, now - 2*h, now - 24*h}, []Limit{day}, true, day, 1, 22 * time.Hour, 0},
		{"minute binds", []int64{now - 1000, now - 2000}, []Limit{minute, day}, false, minute, 0, 58 * time.Second, 58 * time.Second},
		{"fewest remaining binds", []int64{now - 1000, now - 2*h}, []Limit{{4, 24 * time.Hour}, minute}, true, minute, 1, 59 * time.Second, 0},
		{"latest refusal binds", []int64{now - 1000, now - 2000, now - 3*h}, []Limit{minute, day}, false, day, 0, 21 * time.Hour, 21 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := summarize(tt.events, now, tt.limits)
			if d.Allowed != tt.allowed || d.Limit != tt.limit || d.Remaining != tt.remaining || d.Reset != tt.reset || d.RetryAfter != tt.retry {
				t.Fatalf("got allowed=%v limit=%v remaining=%d reset=%v retry=%v", d.Allowed, d.Limit, d.Remaining, d.Reset, d.RetryAfter)
			}
		})
	}
}

func TestDecideAllowUsesLastUnit(t *testing.T) {
	t.Parallel()
	l := []Limit{{Count: 2, Window: time.Hour}}
	d := decide(opAllow, []int64{1000}, true, 2000, l)
	if !d.Allowed || d.Remaining != 0 || d.RetryAfter != 0 || d.Reset != time.Hour-time.Second {
		t.Fatalf("%+v", d)
	}
	if !admits([]int64{1000}, 2000, l) || admits([]int64{2000, 1000}, 2000, l) {
		t.Fatal("admits disagrees with the limit")
	}
}

func TestFormatWindow(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", 30 * time.Minute: "30m", 90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s", 500 * time.Millisecond: "500ms", 0: "0s",
	} {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := []Config{
		{Limits: []Limit{{1, time.Second}}},
		{Zone: "z"},
		{Zone: "z", Limits: []Limit{{0, time.Second}}},
		{Zone: "z", Limits: []Limit{{MaxCount + 1, time.Second}}},
		{Zone: "z", Limits: []Limit{{1, 0}}},
	}
	for i, c := range bad {
		if err := c.validate(); err == nil {
			t.Errorf("config %d: no error", i)
		}
	}
}

func TestSecondsRoundsUp(t *testing.T) {
	t.Parallel()
	if seconds(200*time.Millisecond) != 1 || seconds(time.Second) != 1 || seconds(1001*time.Millisecond) != 2 || seconds(0) != 0 {
		t.Fatal("seconds must round up")
	}
}
