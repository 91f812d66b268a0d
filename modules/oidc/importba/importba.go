// Package importba imports a Better-Auth database into the OpenID
// provider's tables (`intellistack import better-auth`): users with their
// ids, roles, bans and verification state; password credentials with their
// hashes as they are (Better-Auth's scrypt, bcrypt or argon2id: the provider
// verifies them at sign-in and re-hashes to argon2id then); social accounts
// as linked upstream identities; and live sessions under the hash of their
// token, so the Better-Auth cookies in users' browsers stay valid when
// better_auth_api is given Better-Auth's secret.
//
// The source is only read (see OpenSource). Users are imported in batches
// of whole users (the user, its accounts and sessions); each batch is one
// transaction on the destination, so a failure leaves whole batches only,
// and a re-run resumes: rows already there compare equal and are left
// alone. Each row is matched by its id: missing, it is inserted; equal, it
// is unchanged; different, it is updated from the source unless the
// destination's copy changed later (its updated_at is newer: a password
// re-hashed at sign-in, a ban set here), which wins. After each batch a
// verification pass re-reads every row the batch wrote or found, and any
// difference fails the import.
//
// Caddy-free: the command in package oidc opens the destination and calls
// Run.
package importba

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/intellistack/intellistack/modules/oidc/storage"
)

// Options tune an import.
type Options struct {
	// DryRun runs every batch and rolls it back: the report says what an
	// import would do.
	DryRun bool

	// BatchSize is the number of users per transaction. Default 500.
	BatchSize int

	// StartAfter skips the users whose id sorts at or before it (resuming
	// after the last batch a failed run reported; a plain re-run resumes
	// too, only slower).
	StartAfter string

	// Roles maps Better-Auth roles to the provider's (student, instructor,
	// admin). Better-Auth's "user" (and a NULL role) becomes student,
	// "admin" admin; a role neither known nor mapped is dropped with a note.
	Roles map[string]string

	// Providers renames social providers (Better-Auth's providerId) to the
	// names of the provider's upstreams. Default: the same name.
	Providers map[string]string

	// Now is the clock: sessions that have expired by now are not imported.
	// Default time.Now.
	Now func() time.Time
}

// Counts are what happened to the rows of one kind.
type Counts struct {
	Imported  int `json:"imported"`  // inserted
	Updated   int `json:"updated"`   // changed to the source's values
	Unchanged int `json:"unchanged"` // already equal
	Kept      int `json:"kept"`      // changed here after the source: left as it is
	Skipped   int `json:"skipped"`   // not imported, see Report.Skips
}

// Skip is a source row that was not imported, and why.
type Skip struct {
	Table  string `json:"table"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Report is the outcome of Run.
type Report struct {
	DryRun      bool     `json:"dry_run"`
	Users       Counts   `json:"users"`
	Credentials Counts   `json:"credentials"`
	Social      Counts   `json:"social_accounts"`
	Sessions    Counts   `json:"sessions"`
	Skips       []Skip   `json:"skipped"`
	Notes       []string `json:"notes,omitempty"`
	Batches     int      `json:"batches"`
	// LastUserID is the last user of the last committed batch: resume
	// with StartAfter after a failure.
	LastUserID string `json:"last_user_id,omitempty"`
	// Verified is the number of rows the verification pass re-read and
	// found as written.
	Verified int `json:"verified"`
	// Mismatches are the rows the verification pass found different.
	Mismatches []string `json:"mismatches,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// Changes is the number of rows the import inserted or updated.
func (r *Report) Changes() int {
	n := 0
	for _, c := range []Counts{r.Users, r.Credentials, r.Social, r.Sessions} {
		n += c.Imported + c.Updated
	}
	return n
}

func (c *Counts) add(o Counts) {
	c.Imported += o.Imported
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Kept += o.Kept
	c.Skipped += o.Skipped
}

// knownRoles are the provider's roles, in the order it stores them.
var knownRoles = []string{"student", "instructor", "admin"}

// Run imports src into dst. The report is returned also with an error (a
// failed batch, a verification mismatch): it says what was committed.
func Run(ctx context.Context, src *Source, dst *storage.SQL, opt Options) (*Report, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	rep := &Report{DryRun: opt.DryRun}
	notes := map[string]bool{}
	after := opt.StartAfter
	for {
		users, err := src.users(ctx, after, opt.BatchSize)
		if err != nil {
			return rep, rep.fail(fmt.Errorf("reading users after %q: %s", after, oneLine(err)))
		}
		if len(users) == 0 {
			break
		}
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		accounts, err := src.accounts(ctx, ids)
		if err != nil {
			return rep, rep.fail(fmt.Errorf("reading accounts: %s", oneLine(err)))
		}
		sessions, err := src.sessions(ctx, ids)
		if err != nil {
			return rep, rep.fail(fmt.Errorf("reading sessions: %s", oneLine(err)))
		}
		var b *batch
		err = dst.ImportBatch(ctx, !opt.DryRun, func(tx *storage.ImportTx) error {
			b = &batch{opt: &opt, tx: tx, notes: map[string]bool{}}
			return b.run(users, accounts, sessions)
		})
		if err != nil {
			return rep, rep.fail(fmt.Errorf("batch %d (users %s … %s) rolled back: %s; re-run (or --start-after %s) to resume",
				rep.Batches+1, ids[0], ids[len(ids)-1], oneLine(err), after))
		}
		rep.merge(b)
		for n := range b.notes {
			notes[n] = true
		}
		rep.Batches++
		after = ids[len(ids)-1]
		if !opt.DryRun {
			rep.LastUserID = after
			rep.verify(dst.ImportReader(ctx), b)
		}
	}
	if err := rep.sourceNotes(ctx, src, notes); err != nil {
		return rep, rep.fail(err)
	}
	for n := range notes {
		rep.Notes = append(rep.Notes, n)
	}
	sort.Strings(rep.Notes)
	if len(rep.Mismatches) > 0 {
		return rep, rep.fail(fmt.Errorf("the verification pass found %d rows that differ from what was written", len(rep.Mismatches)))
	}
	return rep, nil
}

func (r *Report) fail(err error) error {
	r.Error = err.Error()
	return err
}

func (r *Report) merge(b *batch) {
	r.Users.add(b.users)
	r.Credentials.add(b.credentials)
	r.Social.add(b.social)
	r.Sessions.add(b.sessions)
	r.Skips = append(r.Skips, b.skips...)
}

// sourceNotes says what the import leaves behind on purpose.
func (r *Report) sourceNotes(ctx context.Context, src *Source, notes map[string]bool) error {
	if n, err := src.Count(ctx, "verification"); err != nil {
		return fmt.Errorf("counting verifications: %s", oneLine(err))
	} else if n > 0 {
		notes[fmt.Sprintf("%d verification rows not imported: they are short-lived tokens (reset and verification links, OAuth state); users ask for new ones", n)] = true
	}
	if n, err := src.Count(ctx, "jwks"); err != nil {
		return fmt.Errorf("counting jwks: %s", oneLine(err))
	} else if n > 0 {
		notes[fmt.Sprintf("%d jwks rows not imported: JWTs from Better-Auth's /token stop verifying; clients fetch new ones from the provider's", n)] = true
	}
	return nil
}

// verify re-reads every row the batch wrote or found equal; a row kept
// because it changed here only has to exist.
func (r *Report) verify(rd *storage.ImportReader, b *batch) {
	for _, u := range b.wantUsers {
		got, err := rd.User(u.row.ID)
		r.check("user", u.row.ID, err, u.kept || (got != nil && *got == u.row))
	}
	for _, a := range b.wantAccounts {
		got, err := rd.Account(a.row.ID)
		r.check("account", a.row.ID, err, a.kept || (got != nil && *got == a.row))
	}
	for _, s := range b.wantSessions {
		got, err := rd.Session(s.row.ID)
		r.check("session", s.row.ID, err, s.kept || (got != nil && *got == s.row))
	}
}

func (r *Report) check(table, id string, err error, ok bool) {
	switch {
	case err != nil:
		r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: %s", table, id, oneLine(err)))
	case !ok:
		r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: differs from what was written", table, id))
	default:
		r.Verified++
	}
}

type want[T any] struct {
	row  T
	kept bool
}

// batch is one transaction's work and outcome.
type batch struct {
	opt                        *Options
	tx                         *storage.ImportTx
	users, credentials, social Counts
	sessions                   Counts
	skips                      []Skip
	notes                      map[string]bool
	wantUsers                  []want[storage.ImportUser]
	wantAccounts               []want[storage.ImportAccount]
	wantSessions               []want[storage.ImportSession]
}

func (b *batch) skip(c *Counts, table, id, reason string) {
	c.Skipped++
	b.skips = append(b.skips, Skip{Table: table, ID: id, Reason: reason})
}

// outcome of putting one row.
type outcome int

const (
	inserted outcome = iota
	updated
	unchanged
	kept
)

func (c *Counts) count(o outcome) {
	switch o {
	case inserted:
		c.Imported++
	case updated:
		c.Updated++
	case unchanged:
		c.Unchanged++
	case kept:
		c.Kept++
	}
}

func (b *batch) run(users []srcUser, accounts []srcAccount, sessions []srcSession) error {
	present := map[string]bool{}
	for _, su := range users {
		ok, err := b.user(su)
		if err != nil {
			return err
		}
		present[su.ID] = ok
	}
	for _, sa := range accounts {
		if !present[sa.UserID] {
			c := &b.social
			if sa.ProviderID == storage.ProviderCredential {
				c = &b.credentials
			}
			b.skip(c, "account", sa.ID, "its user was skipped")
			continue
		}
		if err := b.account(sa); err != nil {
			return err
		}
	}
	for _, ss := range sessions {
		if !present[ss.UserID] {
			b.skip(&b.sessions, "session", ss.ID, "its user was skipped")
			continue
		}
		if err := b.session(ss); err != nil {
			return err
		}
	}
	return nil
}

// user imports one user; ok says whether the user is there afterwards
// (its accounts and sessions follow it).
func (b *batch) user(su srcUser) (ok bool, err error) {
	u, reason := b.mapUser(su)
	if reason != "" {
		b.skip(&b.users, "user", su.ID, reason)
		return false, nil
	}
	cur, err := b.tx.User(u.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, err
	}
	if cur == nil || cur.Email != u.Email {
		owner, err := b.tx.UserIDByEmail(u.Email)
		switch {
		case err == nil && owner != u.ID:
			b.skip(&b.users, "user", su.ID, "another user here ("+owner+") has the e-mail address "+u.Email)
			return false, nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return false, err
		}
	}
	o, err := put(cur, u, u.UpdatedAt, func(x *storage.ImportUser) int64 { return x.UpdatedAt }, b.tx.PutUser)
	if err != nil {
		return false, fmt.Errorf("user %s: %w", u.ID, err)
	}
	b.users.count(o)
	b.wantUsers = append(b.wantUsers, want[storage.ImportUser]{row: u, kept: o == kept})
	return true, nil
}

// put writes want unless cur (the destination's row, nil when absent)
// equals it or changed later than it.
func put[T comparable](cur *T, w T, wantUpdated int64, updatedAt func(*T) int64, write func(T, bool) error) (outcome, error) {
	switch {
	case cur == nil:
		return inserted, write(w, false)
	case *cur == w:
		return unchanged, nil
	case updatedAt(cur) > wantUpdated:
		return kept, nil
	}
	return updated, write(w, true)
}

func (b *batch) mapUser(su srcUser) (storage.ImportUser, string) {
	var u storage.ImportUser
	if strings.TrimSpace(su.ID) == "" {
		return u, "no id"
	}
	email := strings.ToLower(strings.TrimSpace(su.Email))
	if email == "" {
		return u, "no e-mail address"
	}
	if at := strings.LastIndexByte(email, '@'); at <= 0 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n<>,;") {
		return u, "not an e-mail address: " + clip(email, 80)
	}
	verified, ok1 := toBool(su.EmailVerified)
	banned, ok2 := toBool(su.Banned)
	created, ok3 := toTime(su.CreatedAt)
	updatedAt, ok4 := toTime(su.UpdatedAt)
	banExpires, ok5 := toTime(su.BanExpires)
	switch {
	case !ok1:
		return u, "unreadable emailVerified"
	case !ok2:
		return u, "unreadable banned"
	case !ok3 || created.IsZero():
		return u, "unreadable createdAt"
	case !ok4:
		return u, "unreadable updatedAt"
	case !ok5:
		return u, "unreadable banExpires"
	}
	if updatedAt.IsZero() {
		updatedAt = created
	}
	u = storage.ImportUser{ID: su.ID, Email: email, EmailVerified: verified, Name: su.Name, Image: su.Image,
		Role: b.mapRole(su.Role), Banned: banned, CreatedAt: created.UnixMilli(), UpdatedAt: updatedAt.UnixMilli()}
	if banned {
		u.BanReason = su.BanReason
		if !banExpires.IsZero() {
			u.BanExpires = banExpires.UnixMilli()
		}
	}
	return u, ""
}

// mapRole turns Better-Auth's role list into the provider's.
func (b *batch) mapRole(role string) string {
	seen := map[string]bool{}
	for _, r := range strings.FieldsFunc(strings.ToLower(role), func(c rune) bool { return c == ',' || c == ' ' }) {
		to, ok := b.opt.Roles[r]
		if !ok {
			switch {
			case r == "user":
				to = "student"
			case slices.Contains(knownRoles, r):
				to = r
			default:
				b.notes[fmt.Sprintf("role %q is not a role here (student, instructor, admin): dropped; map it with --map-role %s=<role>", clip(r, 40), clip(r, 40))] = true
				continue
			}
		}
		for _, t := range strings.Split(to, ",") {
			seen[strings.TrimSpace(t)] = true
		}
	}
	var out []string
	for _, r := range knownRoles {
		if seen[r] {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return storage.DefaultRole
	}
	return strings.Join(out, ",")
}

var scryptRE = regexp.MustCompile(`^[0-9a-f]{32}:[0-9a-f]{128}$`)

// hashProblem says why a stored password hash cannot be verified at
// sign-in ("" when it can: the formats password.VerifyAny reads).
func hashProblem(h string) string {
	switch {
	case h == "":
		return "no password hash"
	case scryptRE.MatchString(h):
		return ""
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return "unreadable bcrypt hash"
		}
		return ""
	case strings.HasPrefix(h, "$argon2id$"):
		if len(strings.Split(h, "$")) != 6 {
			return "unreadable argon2id hash"
		}
		return ""
	}
	// Name the scheme of a "$scheme$…" string (pbkdf2, sha512-crypt),
	// never any of the hash itself.
	if scheme, _, ok := strings.Cut(strings.TrimPrefix(h, "$"), "$"); ok && h[0] == '$' && len(scheme) <= 16 {
		return "password hash in an unsupported format ($" + scheme + "$)"
	}
	return "password hash in an unknown format"
}

func (b *batch) account(sa srcAccount) error {
	credential := sa.ProviderID == storage.ProviderCredential
	c := &b.social
	if credential {
		c = &b.credentials
	}
	created, ok1 := toTime(sa.CreatedAt)
	updatedAt, ok2 := toTime(sa.UpdatedAt)
	if !ok1 || created.IsZero() || !ok2 {
		b.skip(c, "account", sa.ID, "unreadable createdAt or updatedAt")
		return nil
	}
	if updatedAt.IsZero() {
		updatedAt = created
	}
	a := storage.ImportAccount{ID: sa.ID, UserID: sa.UserID, ProviderID: sa.ProviderID, AccountID: sa.AccountID,
		CreatedAt: created.UnixMilli(), UpdatedAt: updatedAt.UnixMilli()}
	switch {
	case strings.TrimSpace(sa.ID) == "":
		b.skip(c, "account", sa.ID, "no id")
		return nil
	case credential:
		if p := hashProblem(sa.Password); p != "" {
			b.skip(c, "account", sa.ID, p+": the user must reset the password")
			return nil
		}
		// Better-Auth's credential accountId is the user id; the
		// provider's is too, whatever the source says.
		a.AccountID, a.Password = sa.UserID, sa.Password
	default:
		if to, ok := b.opt.Providers[sa.ProviderID]; ok {
			a.ProviderID = to
		}
		if a.ProviderID == "" || a.AccountID == "" {
			b.skip(c, "account", sa.ID, "no providerId or accountId")
			return nil
		}
		b.notes["social accounts are imported as linked upstream identities (provider_id = the upstream's name) without their OAuth tokens; name the upstreams as Better-Auth's providers or use --map-provider"] = true
	}
	cur, err := b.tx.Account(a.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if cur == nil || cur.ProviderID != a.ProviderID || cur.AccountID != a.AccountID {
		other, err := b.tx.AccountByIdentity(a.ProviderID, a.AccountID)
		switch {
		case err == nil && other.ID != a.ID && other.UserID == a.UserID && credential:
			b.skip(c, "account", sa.ID, "the user already has a password here")
			return nil
		case err == nil && other.ID != a.ID:
			b.skip(c, "account", sa.ID, fmt.Sprintf("the %s identity %s is linked to another account here (user %s)",
				a.ProviderID, clip(a.AccountID, 64), other.UserID))
			return nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
	}
	o, err := put(cur, a, a.UpdatedAt, func(x *storage.ImportAccount) int64 { return x.UpdatedAt }, b.tx.PutAccount)
	if err != nil {
		return fmt.Errorf("account %s: %w", a.ID, err)
	}
	c.count(o)
	b.wantAccounts = append(b.wantAccounts, want[storage.ImportAccount]{row: a, kept: o == kept})
	return nil
}

func (b *batch) session(ss srcSession) error {
	expires, ok1 := toTime(ss.ExpiresAt)
	created, ok2 := toTime(ss.CreatedAt)
	updatedAt, ok3 := toTime(ss.UpdatedAt)
	switch {
	case strings.TrimSpace(ss.ID) == "" || ss.Token == "":
		b.skip(&b.sessions, "session", ss.ID, "no id or token")
		return nil
	case !ok1 || expires.IsZero() || !ok2 || created.IsZero() || !ok3:
		b.skip(&b.sessions, "session", ss.ID, "unreadable expiresAt, createdAt or updatedAt")
		return nil
	case !expires.After(b.opt.Now()):
		b.skip(&b.sessions, "session", ss.ID, "expired")
		return nil
	}
	if updatedAt.IsZero() {
		updatedAt = created
	}
	s := storage.ImportSession{ID: ss.ID, TokenHash: hashToken(ss.Token), UserID: ss.UserID, ExpiresAt: expires.UnixMilli(),
		AuthTime: created.UnixMilli(), IP: ss.IP, UserAgent: ss.UserAgent, ImpersonatedBy: ss.ImpersonatedBy,
		CreatedAt: created.UnixMilli(), UpdatedAt: updatedAt.UnixMilli()}
	cur, err := b.tx.Session(s.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if cur == nil || cur.TokenHash != s.TokenHash {
		other, err := b.tx.SessionIDByTokenHash(s.TokenHash)
		switch {
		case err == nil && other != s.ID:
			b.skip(&b.sessions, "session", ss.ID, "another session here ("+other+") has the same token")
			return nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
	}
	o, err := put(cur, s, s.UpdatedAt, func(x *storage.ImportSession) int64 { return x.UpdatedAt }, b.tx.PutSession)
	if err != nil {
		return fmt.Errorf("session %s: %w", s.ID, err)
	}
	b.sessions.count(o)
	b.wantSessions = append(b.wantSessions, want[storage.ImportSession]{row: s, kept: o == kept})
	return nil
}

// hashToken is how the provider stores a session token (oidc.hashToken):
// hex SHA-256.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
