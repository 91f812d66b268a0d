package importba

import (
	"testing"
	"time"
)

func TestHashProblem(t *testing.T) {
	for h, want := range map[string]string{
		"be1ba329ad7337c5f561cdfaa565e2b6:efc96a0229a4070b181d6d820bf2eff66fa2e9401530b0c9b49023a1b721768bd932c19752e1c66182964a8b81dff89df84e2625d56b299c420eccb70be9ba6e": "",
		"$2b$10$abcdefghijklmnopqrstuuTKXy1YEqCqk6UWz3bU3TnC4yT5qdUXa": "",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA":                 "",
		"":                                 "no password hash",
		"$2b$xx":                           "unreadable bcrypt hash",
		"$argon2id$v=19$m=1":               "unreadable argon2id hash",
		"$pbkdf2-sha256$29000$c2FsdA$aGFz": "password hash in an unsupported format ($pbkdf2-sha256$)",
		"BE1BA329:EFC9":                    "password hash in an unknown format",
	} {
		if got := hashProblem(h); got != want {
			t.Errorf("hashProblem(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestMapRole(t *testing.T) {
	b := &batch{opt: &Options{Roles: map[string]string{"teacher": "instructor"}}, notes: map[string]bool{}}
	for in, want := range map[string]string{
		"": "student", "user": "student", "admin": "admin", "user,admin": "student,admin", "Admin, teacher": "instructor,admin",
		"moderator": "student",
	} {
		if got := b.mapRole(in); got != want {
			t.Errorf("mapRole(%q) = %q, want %q", in, got, want)
		}
	}
	if len(b.notes) != 1 {
		t.Errorf("notes: %v", b.notes)
	}
}

func TestConversions(t *testing.T) {
	want := time.Date(2026, 11, 25, 19, 31, 13, 25_000_000, time.UTC)
	for _, v := range []any{want, "2026-11-25T19:31:13.025Z", "2026-11-25 19:31:13.025+00", "2026-11-25 19:31:13.025+00:00",
		int64(want.UnixMilli()), "1795635073025"} {
		if got, ok := toTime(v); !ok || !got.Equal(want) {
			t.Errorf("toTime(%#v) = %v, %v", v, got, ok)
		}
	}
	if got, ok := toTime(int64(want.Unix())); !ok || !got.Equal(want.Truncate(time.Second)) {
		t.Errorf("seconds: %v", got)
	}
	if _, ok := toTime("yesterday"); ok {
		t.Error("toTime took a word")
	}
	for v, want := range map[any]bool{int64(1): true, int64(0): false, "t": true, "false": false, true: true, nil: false} {
		if got, ok := toBool(v); !ok || got != want {
			t.Errorf("toBool(%#v) = %v, %v", v, got, ok)
		}
	}
	if _, ok := toBool("maybe"); ok {
		t.Error("toBool took maybe")
	}
}
