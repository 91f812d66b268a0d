package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Dialect names the SQL dialect of a database.
type Dialect string

// The two databases IntelliStack runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// target is a parsed, placeholder-free database setting.
type target struct {
	dialect Dialect
	// dsn is the PostgreSQL URL or the SQLite file path.
	dsn string
}

// redacted returns the target in a form safe for logs and error messages.
func (t target) redacted() string {
	if t.dialect == Postgres {
		return redactURL(t.dsn)
	}
	return t.dsn
}

// parseTarget classifies a database setting. An empty value means the default
// SQLite file under dataDir. A value with a URL scheme must be postgres:// or
// postgresql://; anything else with "://" is refused, so that a typo such as
// "postgress://" or "mysql://" fails at load instead of creating an SQLite file
// with a strange name.
func parseTarget(value, dataDir string) (target, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return target{dialect: SQLite, dsn: filepath.Join(dataDir, "intellistack", "intellistack.db")}, nil
	}
	if scheme, _, ok := strings.Cut(value, "://"); ok {
		switch strings.ToLower(scheme) {
		case "postgres", "postgresql":
			u, err := url.Parse(value)
			if err != nil {
				return target{}, fmt.Errorf("database: invalid PostgreSQL URL %s: %v", redactURL(value), stripURL(err))
			}
			if u.Host == "" && u.Query().Get("host") == "" {
				return target{}, fmt.Errorf("database: PostgreSQL URL %s names no host", redactURL(value))
			}
			return target{dialect: Postgres, dsn: value}, nil
		default:
			return target{}, fmt.Errorf("database: unsupported scheme %q in %s: use a file path for SQLite or a postgres:// URL",
				scheme+"://", redactURL(value))
		}
	}
	if strings.HasPrefix(value, "postgres:") || strings.HasPrefix(value, "postgresql:") {
		return target{}, fmt.Errorf("database: %q looks like a PostgreSQL URL without '//': write postgres://host/db", redactURL(value))
	}
	if strings.ContainsAny(value, "?\x00") {
		return target{}, fmt.Errorf("database: %q is neither a file path nor a postgres:// URL", value)
	}
	return target{dialect: SQLite, dsn: filepath.Clean(value)}, nil
}

// redactURL hides the password of a URL; it never fails, because it is used
// while reporting other errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Do not echo an unparsable URL: it may hold a password.
		scheme, _, _ := strings.Cut(raw, "://")
		return scheme + "://(unparsable)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// stripURL removes the URL that net/url echoes in its errors, since it may
// contain a password.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
