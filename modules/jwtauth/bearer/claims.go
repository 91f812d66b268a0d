package bearer

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/intellistack/intellistack/identity/roles"
)

// claims are the registered and profile claims bearer_jwt reads. Types are
// strict where a wrong type means a broken issuer (exp must be a number),
// lenient where issuers differ in the wild (aud, role, scope,
// email_verified). jwx parses and verifies the JWS; the claims are decoded
// here, not with jwx's jwt package, so that each failed check maps to its
// own refusal reason and the lenient shapes stay explicit.
type claims struct {
	Issuer        string          `json:"iss"`
	Subject       string          `json:"sub"`
	Audience      stringList      `json:"aud"`
	Expiry        *numericDate    `json:"exp"`
	NotBefore     *numericDate    `json:"nbf"`
	IssuedAt      *numericDate    `json:"iat"`
	Email         string          `json:"email"`
	EmailVerified flexBool        `json:"email_verified"`
	Role          json.RawMessage `json:"role"`
	Scope         stringList      `json:"scope"`
	ClientID      string          `json:"client_id"`
	AuthorizedFor string          `json:"azp"`
	ID            string          `json:"jti"`
	SessionID     string          `json:"sid"`
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional (RFC 7519 §2).
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return errors.New("NumericDate must be a number of seconds")
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// stringList accepts a string or an array of strings (aud may be either;
// some issuers send role and scope as arrays).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return errors.New("expected a string or an array of strings")
	}
	*l = ss
	return nil
}

// flexBool accepts true/false and the strings "true"/"false" (Cognito and
// some Better-Auth adapters send email_verified as a string).
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`:
		*v = true
	case "false", `"false"`, "null":
		*v = false
	default:
		return errors.New("expected a boolean")
	}
	return nil
}

// roles reads the role claim with the platform's one role parser: a
// string, a comma- or space-separated string (Better-Auth's admin plugin
// keeps several roles in one "admin,instructor"), or an array.
func (c *claims) roles() []string {
	return roles.Parse(c.Role)
}

// claimString renders a custom claim for a placeholder or header: strings
// as they are, anything else as its JSON text (numbers, booleans, arrays).
func claimString(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	if bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}
