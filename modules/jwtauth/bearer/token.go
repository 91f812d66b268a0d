package bearer

import (
	"bytes"
	"errors"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// maxTokenLength bounds what is decoded at all: real access tokens are a
// few KiB, and a megabyte header must not cost a megabyte of JSON parsing.
const maxTokenLength = 16 << 10

// errMalformed is any token that is not a compact JWS with a JSON header and
// a JSON object payload (before any signature is looked at).
var errMalformed = errors.New("malformed token")

// parsedToken is a compact JWS parsed by jwx, not yet verified: the header
// values bearer_jwt acts on and the claims it will read once the signature
// holds.
type parsedToken struct {
	raw     []byte // the token as received, for jws.Verify
	alg     string
	kid     string
	typ     string
	payload []byte // decoded claims JSON
}

// parseToken reads a compact JWS (RFC 7515 §7.1) with jwx. It never trusts
// what it decodes: the header only picks a key and an allowed algorithm.
//
// Before jwx sees the token, its shape is checked strictly: exactly three
// segments of unpadded base64url (RFC 7515 §2), header and payload not
// empty. jwx's decoder is lenient (padding, standard base64, JSON
// serialization), and a bearer token has one spelling only.
func parseToken(token string) (*parsedToken, error) {
	if len(token) == 0 || len(token) > maxTokenLength || strings.Count(token, ".") != 2 {
		return nil, errMalformed // five parts would be a JWE, which we do not accept
	}
	for i := 0; i < len(token); i++ {
		if !base64url[token[i]] {
			return nil, errMalformed
		}
	}
	first := strings.IndexByte(token, '.')
	second := first + 1 + strings.IndexByte(token[first+1:], '.')
	if first == 0 || second == first+1 {
		return nil, errMalformed
	}
	raw := []byte(token)
	msg, err := jws.Parse(raw, jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, errMalformed
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	alg := h.Algorithm().String()
	if alg == "" {
		return nil, errMalformed
	}
	// We understand no JWS extension, and RFC 7515 §4.1.11 says a token
	// naming one it needs must then be rejected. b64 (RFC 7797 §3) changes
	// what is signed and is only valid when listed in crit (§6): refused too,
	// even where jwx would honour it.
	if _, ok := h.Get(jws.CriticalKey); ok {
		return nil, errMalformed
	}
	if _, ok := h.Get("b64"); ok {
		return nil, errMalformed
	}
	payload := msg.Payload()
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return nil, errMalformed
	}
	return &parsedToken{raw: raw, alg: alg, kid: h.KeyID(), typ: h.Type(), payload: payload}, nil
}

// base64url is the alphabet of unpadded base64url plus the segment
// separator: the only bytes of a compact JWS.
var base64url = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'] = true, true, true
	return t
}()

// BearerToken extracts the token of an `Authorization: Bearer <token>`
// header. present reports whether a Bearer credential was sent at all (a
// different scheme counts as none); ok whether it has the RFC 6750 token68
// shape.
func BearerToken(authorization string) (token string, present, ok bool) {
	scheme, rest, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false, false
	}
	token = strings.Trim(rest, " ")
	if token == "" {
		return "", true, false
	}
	for i := 0; i < len(token); i++ {
		if !token68[token[i]] {
			return "", true, false
		}
	}
	return token, true, true
}

// token68 are the bytes of an RFC 7235 token68 (what a bearer token is
// made of); a table, because this runs over every byte of every token.
var token68 = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/=" {
		t[c] = true
	}
	return t
}()
