package lexical

import (
	"strings"
	"unicode"
)

// tokenize lowercases text and splits it into terms for BM25: letters and
// digits only, stop words dropped, a light suffix strip so that "loops" and
// "loop", "dictionaries" and "dictionary" meet. Code like `range()` yields
// "range".
func tokenize(text string) []string {
	fields := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if len(f) < 2 || stopWords[f] {
			continue
		}
		out = append(out, stem(f))
	}
	return out
}

// stem strips a few English inflections. It is deliberately small: lesson
// vocabulary is technical, and over-stemming merges distinct terms.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 5 && strings.HasSuffix(w, "ing"):
		return w[:len(w)-3]
	case len(w) > 4 && strings.HasSuffix(w, "es") && (strings.HasSuffix(w, "ses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes")):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	// Python's keywords for, if and while are not stop words here: "for
	// loops" and "if statements" name lessons. "work" is: "how does X work"
	// says nothing about X, and the stem of "working" matched "Working with
	// strings" to every such question.
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does doing from had has have
		how i in into is it its just me my no not of on or our so such than that the their them then there these they
		this those to too very was we what when where which who whom why will with would you your yours about also
		any each only own same should some use used using get gets one ones way make makes like want please tell explain
		show mean means thing things work works working worked`) {
		m[w] = true
	}
	return m
}()
