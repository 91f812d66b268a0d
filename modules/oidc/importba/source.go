package importba

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
	_ "modernc.org/sqlite"             // "sqlite" driver
)

// Source is a Better-Auth database opened read-only: a PostgreSQL URL or
// an SQLite file. Every read runs in one read-only transaction, so the
// import sees one consistent snapshot even while Better-Auth still serves.
type Source struct {
	db       *sql.DB
	tx       *sql.Tx
	postgres bool
	// columns present per table (the admin plugin's columns are optional).
	columns map[string]map[string]bool
}

// OpenSource opens from read-only: a postgres:// (or postgresql://) URL
// gets default_transaction_read_only=on and a READ ONLY transaction; a file
// path is opened with SQLite's mode=ro and query_only. Nothing the importer
// does can write to it.
func OpenSource(ctx context.Context, from string) (*Source, error) {
	s := &Source{columns: map[string]map[string]bool{}}
	var err error
	switch {
	case strings.HasPrefix(from, "postgres://"), strings.HasPrefix(from, "postgresql://"):
		u, perr := url.Parse(from)
		if perr != nil {
			return nil, errors.New("the source is not a valid PostgreSQL URL")
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		s.postgres = true
		s.db, err = sql.Open("pgx", u.String())
	default:
		path := strings.TrimPrefix(from, "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("the source SQLite file: %v", serr)
		}
		q := url.Values{}
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
		q.Add("_pragma", "busy_timeout(10000)")
		s.db, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	}
	if err != nil {
		return nil, err
	}
	s.db.SetMaxOpenConns(1)
	opts := &sql.TxOptions{}
	if s.postgres {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	if s.tx, err = s.db.BeginTx(ctx, opts); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("reading the source: %s", oneLine(err))
	}
	for _, table := range []string{"user", "account", "session", "verification", "jwks"} {
		cols, err := s.tableColumns(ctx, table)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("reading the source's table %q: %s", table, oneLine(err))
		}
		s.columns[table] = cols
	}
	for _, table := range []string{"user", "account", "session"} {
		if len(s.columns[table]) == 0 {
			s.Close()
			return nil, fmt.Errorf("the source has no table %q: is it a Better-Auth database (search_path for another schema)?", table)
		}
	}
	return s, nil
}

// Close ends the read transaction and closes the source.
func (s *Source) Close() error {
	if s.tx != nil {
		_ = s.tx.Rollback()
	}
	return s.db.Close()
}

// ReadOnly reports whether the source refuses writes (the test proves the
// importer's promise with it).
func (s *Source) ReadOnly(ctx context.Context) bool {
	_, err := s.tx.ExecContext(ctx, `CREATE TABLE intellistack_write_probe (x INTEGER)`)
	return err != nil
}

func (s *Source) tableColumns(ctx context.Context, table string) (map[string]bool, error) {
	var rows *sql.Rows
	var err error
	if s.postgres {
		rows, err = s.tx.QueryContext(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1`, table)
	} else {
		rows, err = s.tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols[c] = true
	}
	return cols, rows.Err()
}

// selectList quotes the wanted columns the table has and NULL for the rest,
// so a database without the admin plugin reads like one with it.
func (s *Source) selectList(table string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if s.columns[table][c] {
			out[i] = `"` + c + `"`
		} else {
			out[i] = "NULL"
		}
	}
	return strings.Join(out, ", ")
}

func (s *Source) placeholder(i int) string {
	if s.postgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// Count returns the number of rows of a table, -1 when it does not exist.
func (s *Source) Count(ctx context.Context, table string) (int, error) {
	if len(s.columns[table]) == 0 {
		return -1, nil
	}
	var n int
	err := s.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+table+`"`).Scan(&n)
	return n, err
}

// Raw rows, as read: values are converted (and judged) by the importer.

type srcUser struct {
	ID, Name, Email, Image, Role, BanReason string
	EmailVerified, Banned                   any
	CreatedAt, UpdatedAt, BanExpires        any
}

type srcAccount struct {
	ID, AccountID, ProviderID, UserID, Password string
	CreatedAt, UpdatedAt                        any
}

type srcSession struct {
	ID, Token, UserID, IP, UserAgent, ImpersonatedBy string
	ExpiresAt, CreatedAt, UpdatedAt                  any
}

var userCols = []string{"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires"}

// users returns up to n users with ids after after, by id.
func (s *Source) users(ctx context.Context, after string, n int) ([]srcUser, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+s.selectList("user", userCols)+` FROM "user" WHERE id > `+s.placeholder(1)+
		` ORDER BY id LIMIT `+strconv.Itoa(n), after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []srcUser
	for rows.Next() {
		var u srcUser
		var name, email, image, role, reason sql.NullString
		if err := rows.Scan(&u.ID, &name, &email, &u.EmailVerified, &image, &u.CreatedAt, &u.UpdatedAt, &role, &u.Banned,
			&reason, &u.BanExpires); err != nil {
			return nil, err
		}
		u.Name, u.Email, u.Image, u.Role, u.BanReason = name.String, email.String, image.String, role.String, reason.String
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *Source) inList(ids []string) string {
	ph := make([]string, len(ids))
	for i := range ids {
		ph[i] = s.placeholder(i + 1)
	}
	return strings.Join(ph, ", ")
}

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

var accountCols = []string{"id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt"}

// accounts returns the accounts of these users, by user and id.
func (s *Source) accounts(ctx context.Context, userIDs []string) ([]srcAccount, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+s.selectList("account", accountCols)+` FROM "account" WHERE "userId" IN (`+
		s.inList(userIDs)+`) ORDER BY "userId", id`, anys(userIDs)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []srcAccount
	for rows.Next() {
		var a srcAccount
		var accountID, providerID, pw sql.NullString
		if err := rows.Scan(&a.ID, &accountID, &providerID, &a.UserID, &pw, &a.CreatedAt, &a.UpdatedAt); err != nil {
			return nil, err
		}
		a.AccountID, a.ProviderID, a.Password = accountID.String, providerID.String, pw.String
		out = append(out, a)
	}
	return out, rows.Err()
}

var sessionCols = []string{"id", "token", "userId", "ipAddress", "userAgent", "impersonatedBy", "expiresAt", "createdAt", "updatedAt"}

// sessions returns the sessions of these users, by user and id.
func (s *Source) sessions(ctx context.Context, userIDs []string) ([]srcSession, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+s.selectList("session", sessionCols)+` FROM "session" WHERE "userId" IN (`+
		s.inList(userIDs)+`) ORDER BY "userId", id`, anys(userIDs)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []srcSession
	for rows.Next() {
		var x srcSession
		var token, ip, ua, imp sql.NullString
		if err := rows.Scan(&x.ID, &token, &x.UserID, &ip, &ua, &imp, &x.ExpiresAt, &x.CreatedAt, &x.UpdatedAt); err != nil {
			return nil, err
		}
		x.Token, x.IP, x.UserAgent, x.ImpersonatedBy = token.String, ip.String, ua.String, imp.String
		out = append(out, x)
	}
	return out, rows.Err()
}

// Value conversions. PostgreSQL gives booleans and time.Time; SQLite gives
// what the adapter stored: 0/1 and ISO-8601 text (Kysely), or integer
// seconds or milliseconds (Drizzle's timestamp modes).

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	case int64:
		return x != 0, true
	case float64:
		return x != 0, true
	case []byte:
		return toBool(string(x))
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "1", "t", "true":
			return true, true
		case "0", "f", "false", "":
			return false, true
		}
	}
	return false, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// toTime converts a stored date; ok is false for a value that is not one
// (NULL gives the zero time, ok).
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, true
	case time.Time:
		return x, true
	case int64:
		if x < 100_000_000_000 { // before 1973 in ms: seconds
			return time.Unix(x, 0), true
		}
		return time.UnixMilli(x), true
	case float64:
		return toTime(int64(x))
	case []byte:
		return toTime(string(x))
	case string:
		x = strings.TrimSpace(x)
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return toTime(n)
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, x); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// oneLine keeps the first line of an error (driver errors may quote SQL).
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
