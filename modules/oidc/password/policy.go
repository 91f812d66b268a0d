// Package password holds the password rules and hashing of the OpenID
// provider, free of Caddy and of storage: the policy every new password must
// meet, and argon2id hashes in the PHC string format (parameters travel in
// the hash, so they can be raised without invalidating stored hashes).
package password

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinLength and MaxLength bound a password in characters (runes). The upper
// bound keeps a hash request cheap to refuse.
const (
	MinLength = 12
	MaxLength = 256
)

// Violation is one failed rule: a stable code for programs and a sentence for
// people.
type Violation struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The rule codes, in the order Check reports them.
const (
	TooShort    = "PASSWORD_TOO_SHORT"
	TooLong     = "PASSWORD_TOO_LONG"
	NoUpper     = "PASSWORD_NO_UPPERCASE"
	NoLower     = "PASSWORD_NO_LOWERCASE"
	NoDigit     = "PASSWORD_NO_DIGIT"
	NoSpecial   = "PASSWORD_NO_SPECIAL"
	InvalidUTF8 = "PASSWORD_INVALID"
)

// Check returns every rule the password breaks (nil when it is acceptable):
// at least 12 characters, an upper-case and a lower-case letter, a digit and
// a special character (anything that is not a letter or a digit). Each rule
// is reported separately so a form can list exactly what is missing.
func Check(pw string) []Violation {
	if !utf8.ValidString(pw) {
		return []Violation{{InvalidUTF8, "The password is not valid text."}}
	}
	var v []Violation
	n := utf8.RuneCountInString(pw)
	if n < MinLength {
		v = append(v, Violation{TooShort, "Use at least 12 characters."})
	}
	if n > MaxLength {
		v = append(v, Violation{TooLong, "Use at most 256 characters."})
	}
	var upper, lower, digit, special bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLetter(r):
			// Letters without case (e.g. CJK) count as neither.
		case !unicode.IsSpace(r) || r == ' ':
			special = true
		}
	}
	if !upper {
		v = append(v, Violation{NoUpper, "Add an upper-case letter."})
	}
	if !lower {
		v = append(v, Violation{NoLower, "Add a lower-case letter."})
	}
	if !digit {
		v = append(v, Violation{NoDigit, "Add a digit."})
	}
	if !special {
		v = append(v, Violation{NoSpecial, "Add a special character (for example ! ? # or a space)."})
	}
	return v
}

// Summary joins the messages of violations into one sentence list.
func Summary(v []Violation) string {
	msgs := make([]string, len(v))
	for i, x := range v {
		msgs[i] = x.Message
	}
	return strings.Join(msgs, " ")
}
