package bearer

import (
	"net/http"
	"strings"
)

// StripIdentityHeaders removes every client-sent header whose name matches
// one of the identity header names, also when spelled with "_" or "."
// instead of "-": CGI-style backends fold those onto the same variable.
// Go already canonicalises the plain spelling, so that one is a map delete.
func StripIdentityHeaders(h http.Header, names []string) {
	for _, n := range names {
		delete(h, n)
	}
	for k := range h {
		if strings.IndexByte(k, '_') < 0 && strings.IndexByte(k, '.') < 0 {
			continue
		}
		for _, n := range names {
			if sameHeaderFolded(k, n) {
				delete(h, k)
				break
			}
		}
	}
}

// sameHeaderFolded compares header names case-insensitively with '-', '_'
// and '.' treated as one character.
func sameHeaderFolded(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := fold(a[i]), fold(b[i])
		if x != y {
			return false
		}
	}
	return true
}

func fold(c byte) byte {
	switch {
	case c == '_' || c == '.':
		return '-'
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// HeaderSafe drops control characters (a claim value must not split or end
// a header line); HTAB stays.
func HeaderSafe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c >= 0x20 || c == '\t') && c != 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
