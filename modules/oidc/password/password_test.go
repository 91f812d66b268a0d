package password

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func codes(v []Violation) []string {
	var c []string
	for _, x := range v {
		c = append(c, x.Code)
	}
	return c
}

func TestCheck(t *testing.T) {
	cases := []struct {
		pw   string
		want []string
	}{
		{"Correct-Horse-42", nil},
		{"Äpfel und Birnen 7", nil}, // non-ASCII letters, space as the special character
		{"Sh0rt!", []string{TooShort}},
		{"alllowercase-42", []string{NoUpper}},
		{"ALLUPPERCASE-42", []string{NoLower}},
		{"No-Digits-Here!", []string{NoDigit}},
		{"NoSpecials12345", []string{NoSpecial}},
		{"", []string{TooShort, NoUpper, NoLower, NoDigit, NoSpecial}},
		{strings.Repeat("Aa1!", 65), []string{TooLong}},
		{"Bad\xffUTF8-123456", []string{InvalidUTF8}},
	}
	for _, c := range cases {
		if got := codes(Check(c.pw)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.pw, got, c.want)
		}
	}
	if s := Summary(Check("short")); !strings.Contains(s, "12 characters") || !strings.Contains(s, "digit") {
		t.Errorf("summary %q", s)
	}
}

func TestHashVerify(t *testing.T) {
	p := Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := Hash("Correct-Horse-42", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("PHC string %q", h)
	}
	h2, _ := Hash("Correct-Horse-42", p)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if stale, err := Verify("Correct-Horse-42", h, p); err != nil || stale {
		t.Fatalf("verify: stale=%v err=%v", stale, err)
	}
	if _, err := Verify("correct-horse-42", h, p); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	if stale, err := Verify("Correct-Horse-42", h, DefaultParams); err != nil || !stale {
		t.Fatalf("weaker params should be stale: %v %v", stale, err)
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=18$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=1024,t=1,p=1$!!$!!"} {
		if _, err := Verify("x", bad, p); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Verify(%q) = %v, want ErrUnknownFormat", bad, err)
		}
	}
}
