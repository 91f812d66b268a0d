package ratelimit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`request_quota {
		key {http.auth.user.id}
		limit 20 per 24h
		limit 3 per 1m
		exempt_roles instructor admin
		store memory
		zone tutor
		fail_open
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Key:         "{http.auth.user.id}",
		Limits:      []LimitConfig{{20, caddy.Duration(24 * time.Hour)}, {3, caddy.Duration(time.Minute)}},
		ExemptRoles: []string{"instructor", "admin"},
		Store:       "memory",
		Zone:        "tutor",
		FailOpen:    true,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
}

func TestUnmarshalCaddyfileExemptMatcher(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`request_quota {
		key {http.request.remote.host}
		limit 10 per 1d
		exempt {
			remote_ip 10.0.0.0/8
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Limits[0].Window != caddy.Duration(24*time.Hour) {
		t.Fatalf("1d parsed as %v", time.Duration(h.Limits[0].Window))
	}
	if _, ok := h.ExemptRaw["remote_ip"]; !ok || len(h.ExemptRaw) != 1 {
		t.Fatalf("exempt = %v", h.ExemptRaw)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ input, want string }{
		"argument":       {"request_quota foo {\nkey {x}\nlimit 1 per 1s\n}", "wrong argument count"},
		"no key":         {"request_quota {\nlimit 1 per 1s\n}", "key is required"},
		"no limit":       {"request_quota {\nkey {x}\n}", "at least one"},
		"two keys":       {"request_quota {\nkey {x}\nkey {y}\nlimit 1 per 1s\n}", "key already set"},
		"key args":       {"request_quota {\nkey {x} {y}\nlimit 1 per 1s\n}", "wrong argument count"},
		"limit syntax":   {"request_quota {\nkey {x}\nlimit 20/24h\n}", "expected: limit <n> per <duration>"},
		"limit count":    {"request_quota {\nkey {x}\nlimit zero per 1h\n}", "not a whole number"},
		"limit negative": {"request_quota {\nkey {x}\nlimit -1 per 1h\n}", "not a whole number"},
		"limit huge":     {"request_quota {\nkey {x}\nlimit 10001 per 1h\n}", "not a whole number"},
		"limit per":      {"request_quota {\nkey {x}\nlimit 20 every 1h\n}", "expected 'per'"},
		"limit window":   {"request_quota {\nkey {x}\nlimit 20 per soon\n}", "not a positive duration"},
		"limit zero win": {"request_quota {\nkey {x}\nlimit 20 per 0s\n}", "not a positive duration"},
		"store":          {"request_quota {\nkey {x}\nlimit 1 per 1s\nstore redis\n}", "not one of memory, database"},
		"roles":          {"request_quota {\nkey {x}\nlimit 1 per 1s\nexempt_roles\n}", "wrong argument count"},
		"fail_open arg":  {"request_quota {\nkey {x}\nlimit 1 per 1s\nfail_open yes\n}", "wrong argument count"},
		"unknown":        {"request_quota {\nkey {x}\nlimit 1 per 1s\nburst 5\n}", "unrecognized subdirective: burst"},
		"bad matcher":    {"request_quota {\nkey {x}\nlimit 1 per 1s\nexempt {\nnope 1\n}\n}", "getting matcher module 'nope'"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
