package bearer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// maxTokenLength bounds what is decoded at all: real access tokens are a
// few KiB, and a megabyte header must not cost a megabyte of JSON parsing.
const maxTokenLength = 16 << 10

// errMalformed is any token that is not a compact JWS with a JSON header and
// a JSON object payload (before any signature is looked at).
var errMalformed = errors.New("malformed token")

// joseHeader is the protected header of a compact JWS, as far as we use it.
type joseHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

// parsedToken is a compact JWS split and decoded, not yet verified.
type parsedToken struct {
	header       joseHeader
	signingInput []byte // "<header>.<payload>" exactly as received
	signature    []byte
	payload      []byte // decoded claims JSON
}

// parseToken splits and decodes a compact JWS. It never trusts anything it
// decodes: the header is only used to pick a key and an allowed algorithm.
func parseToken(token string) (*parsedToken, error) {
	if len(token) == 0 || len(token) > maxTokenLength {
		return nil, errMalformed
	}
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return nil, errMalformed
	}
	second := strings.IndexByte(token[first+1:], '.')
	if second < 0 {
		return nil, errMalformed
	}
	second += first + 1
	if strings.IndexByte(token[second+1:], '.') >= 0 {
		return nil, errMalformed // five parts: JWE, which we do not accept
	}
	enc := base64.RawURLEncoding.Strict()
	rawHeader, err := enc.DecodeString(token[:first])
	if err != nil {
		return nil, errMalformed
	}
	payload, err := enc.DecodeString(token[first+1 : second])
	if err != nil || len(payload) == 0 {
		return nil, errMalformed
	}
	sig, err := enc.DecodeString(token[second+1:])
	if err != nil {
		return nil, errMalformed
	}
	var h joseHeader
	if err := json.Unmarshal(rawHeader, &h); err != nil || h.Alg == "" {
		return nil, errMalformed
	}
	// We understand no JWS extension, and RFC 7515 §4.1.11 says a token
	// naming one it needs must then be rejected (this also covers b64=false).
	if h.Crit != nil {
		return nil, errMalformed
	}
	if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return nil, errMalformed
	}
	return &parsedToken{
		header:       h,
		signingInput: []byte(token[:second]),
		signature:    sig,
		payload:      payload,
	}, nil
}

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
