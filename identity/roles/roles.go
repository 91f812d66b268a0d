// Package roles is the platform's one role parser, free of Caddy so that
// Caddy-free cores (modules/jwtauth/bearer) share it with every module.
// Modules use it through package identity (ParseRoles, SplitRoles).
package roles

import (
	"encoding/json"
	"slices"
	"strings"
)

// Parse reads a role claim in any of the shapes issuers use: a JSON array
// of strings, or one string holding a single role or several separated by
// commas and/or white space. Anything else (numbers, objects) yields no
// roles: a malformed claim never grants one.
func Parse(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		var out []string
		for _, s := range list {
			out = appendRoles(out, s)
		}
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return Split(s)
	}
	return nil
}

// Split splits a role string on commas and white space, dropping empty
// entries and duplicates.
func Split(s string) []string {
	return appendRoles(nil, s)
}

func appendRoles(out []string, s string) []string {
	for _, r := range strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' }) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
