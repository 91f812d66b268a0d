package oidc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/intellistack/intellistack/modules/oidc/password"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/ratelimit"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "user",
		Usage: "<create|set-role|set-claim|verify|ban|unban|unlock|list> [args] [--config <Caddyfile> | --database <path|url>]",
		Short: "Manages the OpenID provider's accounts",
		Long: `
Manages the accounts of the oidc_provider directly in the database, for the
first admin of a fresh install and for operators without the admin API:

  user create --email E --password-stdin [--name N] [--role R] [--verified]
  user set-role E ROLE          ROLE: student, instructor, admin (or a comma list)
  user set-claim E KEY JSON     e.g. user set-claim ada@example.com stage 3
                                (JSON null deletes the claim)
  user verify E                 marks the e-mail address verified
  user ban E [--reason R] [--expires 72h]
  user unban E
  user unlock E                 clears the lockout after failed sign-ins
  user list [--search S] [--limit N] [--offset N]

The database comes from --database, or else from the intellistack app of the
config (--config, or the Caddyfile in the current folder), as for
"intellistack migrate"; pending migrations are applied first. The password
is read from the first line of standard input and must meet the sign-up
policy. Every change is written to the audit log (auth_events) with the
actor "cli". Exit status: 0 on success, 1 on error.`,
		CobraFunc: func(cmd *cobra.Command) {
			dbFlags(cmd)
			cmd.Flags().String("email", "", "E-mail address (create)")
			cmd.Flags().Bool("password-stdin", false, "Read the password from standard input (create)")
			cmd.Flags().String("name", "", "Display name (create)")
			cmd.Flags().String("role", "", "Role(s): student (default), instructor, admin (create)")
			cmd.Flags().Bool("verified", false, "Mark the e-mail address verified (create)")
			cmd.Flags().String("reason", "", "Reason (ban)")
			cmd.Flags().String("expires", "", "Ban duration, e.g. 72h (ban; default: for good)")
			cmd.Flags().String("search", "", "E-mail or name substring (list)")
			cmd.Flags().Int("limit", 100, "Rows to show (list)")
			cmd.Flags().Int("offset", 0, "Rows to skip (list)")
			cmd.Args = cobra.MinimumNArgs(1)
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdUser)
		},
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "events",
		Usage: "[--user <email|id>] [--type <event>] [--since <time|duration>] [--limit N] [--config <Caddyfile> | --database <path|url>]",
		Short: "Shows the OpenID provider's audit log",
		Long: `
Shows the provider's audit log (auth_events), newest first: sign-ins and
their failures, sign-ups, token issues and refreshes, revocations, reuse
detection and every admin or CLI action on an account, with who acted.

--since and --until take an RFC 3339 time, a date (2026-11-29) or a
duration back from now (24h). The database is found as for "intellistack
user". Exit status: 0 on success, 1 on error.`,
		CobraFunc: func(cmd *cobra.Command) {
			dbFlags(cmd)
			cmd.Flags().String("user", "", "Only events of this user (e-mail address or id)")
			cmd.Flags().String("type", "", "Only events of this type (sign_in, role_changed, …)")
			cmd.Flags().String("since", "", "Only events at or after this time")
			cmd.Flags().String("until", "", "Only events before this time")
			cmd.Flags().Int("limit", 100, "Rows to show")
			cmd.Flags().Int("offset", 0, "Rows to skip")
			cmd.Args = cobra.NoArgs
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdEvents)
		},
	})
}

func dbFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("config", "c", "", "Configuration file")
	cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
	cmd.Flags().String("database", "", "Database setting (SQLite path or postgres:// URL); overrides the config")
}

const (
	exitOK    = caddy.ExitCodeSuccess
	exitError = caddy.ExitCodeFailedStartup // 1
)

// cliStdin is where --password-stdin reads (tests replace it).
var cliStdin io.Reader = os.Stdin

// cliSession is an open, migrated database for one command.
type cliSession struct {
	ctx context.Context
	db  *store.DB
	st  *storage.SQL
	now time.Time
}

func openCLI(fl caddycmd.Flags) (*cliSession, func(), error) {
	database, dir, err := store.DatabaseFromFlags(fl)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	db, err := store.Open(ctx, database, dir)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("opening the database: %v", err)
	}
	if _, err := store.Migrate(ctx, db); err != nil {
		db.Close()
		cancel()
		return nil, nil, fmt.Errorf("migrating the database: %v", err)
	}
	s := &cliSession{ctx: ctx, db: db, st: storage.New(db), now: time.Now()}
	return s, func() { db.Close(); cancel() }, nil
}

// audit records a CLI action on u.
func (s *cliSession) audit(event string, u *storage.User, detail string) error {
	e := storage.Event{CreatedAt: time.Now(), Event: event, Outcome: "success", ActorID: "cli", Detail: detail, UserAgent: "intellistack-cli"}
	if u != nil {
		e.UserID, e.Email = u.ID, u.Email
	}
	if err := s.st.RecordEvent(s.ctx, e); err != nil {
		return fmt.Errorf("writing the audit event: %v", err)
	}
	return nil
}

// user finds an account by e-mail address (or id).
func (s *cliSession) user(ref string) (*storage.User, error) {
	var u *storage.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = s.st.UserByEmail(s.ctx, strings.ToLower(strings.TrimSpace(ref)))
	} else {
		u, err = s.st.UserByID(s.ctx, ref)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", clip(ref, 80))
	}
	return u, err
}

// userArgs checks the positional arguments of an action: the action, the
// user, then n more.
func userArgs(fl caddycmd.Flags, action string, n int, usage string) error {
	if fl.NArg() != 2+n {
		return fmt.Errorf("usage: intellistack user %s %s", action, usage)
	}
	return nil
}

func cmdUser(fl caddycmd.Flags) (int, error) {
	action := fl.Arg(0)
	usages := map[string]struct {
		n     int
		usage string
	}{
		"set-role": {1, "<email> <role>"}, "set-claim": {2, "<email> <key> <json>"}, "verify": {0, "<email>"},
		"ban": {0, "<email> [--reason R] [--expires 72h]"}, "unban": {0, "<email>"}, "unlock": {0, "<email>"},
	}
	switch action {
	case "create":
		if fl.NArg() != 1 {
			return exitError, errors.New("usage: intellistack user create --email E --password-stdin [--name N] [--role R] [--verified]")
		}
	case "list":
		if fl.NArg() != 1 {
			return exitError, errors.New("usage: intellistack user list [--search S] [--limit N] [--offset N]")
		}
	default:
		u, ok := usages[action]
		if !ok {
			return exitError, fmt.Errorf("unknown action %q: use create, set-role, set-claim, verify, ban, unban, unlock or list", clip(action, 40))
		}
		if err := userArgs(fl, action, u.n, u.usage); err != nil {
			return exitError, err
		}
	}
	// Check what needs no database first.
	var create *newAccount
	if action == "create" {
		if !fl.Bool("password-stdin") {
			return exitError, errors.New("create: pass --password-stdin and the password on standard input")
		}
		line, err := bufio.NewReader(io.LimitReader(cliStdin, 8*password.MaxLength)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return exitError, fmt.Errorf("reading the password: %v", err)
		}
		create = &newAccount{Email: fl.String("email"), Password: strings.TrimRight(line, "\r\n"), Name: fl.String("name"),
			EmailVerified: fl.Bool("verified")}
		if r := fl.String("role"); r != "" {
			create.Role, _ = json.Marshal(r)
		}
	}
	s, done, err := openCLI(fl)
	if err != nil {
		return exitError, err
	}
	defer done()
	if err := s.run(fl, action, create); err != nil {
		return exitError, err
	}
	return exitOK, nil
}

func (s *cliSession) run(fl caddycmd.Flags, action string, create *newAccount) error {
	if action == "create" {
		p := &provider{hashParams: password.DefaultParams}
		u, hash, e := p.prepareAccount(create, s.now)
		if e != nil {
			return e
		}
		created, err := s.st.CreateUser(s.ctx, u, hash)
		if errors.Is(err, storage.ErrEmailTaken) {
			return fmt.Errorf("an account with the e-mail address %s already exists", u.Email)
		}
		if err != nil {
			return err
		}
		if err := s.audit(evUserCreated, created, "role "+created.Role); err != nil {
			return err
		}
		fmt.Printf("created %s (%s), role %s, id %s\n", created.Email, verifiedWord(created.EmailVerified), created.Role, created.ID)
		return nil
	}
	if action == "list" {
		users, total, err := s.st.ListUsers(s.ctx, storage.UserQuery{Search: fl.String("search"), Limit: fl.Int("limit"), Offset: fl.Int("offset")})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "EMAIL\tNAME\tROLE\tVERIFIED\tBANNED\tCLAIMS\tID\n")
		for _, u := range users {
			claims, _ := json.Marshal(u.Claims)
			if u.Claims == nil {
				claims = []byte("{}")
			}
			banned := "no"
			if u.IsBanned(s.now) {
				banned = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", u.Email, u.Name, u.Role, u.EmailVerified, banned, claims, u.ID)
		}
		w.Flush()
		fmt.Printf("%d of %d users\n", len(users), total)
		return nil
	}
	u, err := s.user(fl.Arg(1))
	if err != nil {
		return err
	}
	switch action {
	case "set-role":
		role, err := parseRoles([]string{fl.Arg(2)})
		if err != nil {
			return err
		}
		updated, err := s.st.SetRole(s.ctx, u.ID, role, s.now)
		if err != nil {
			return err
		}
		if err := s.audit(evRoleChanged, updated, u.Role+" -> "+role); err != nil {
			return err
		}
		fmt.Printf("%s: role %s\n", updated.Email, updated.Role)
	case "set-claim":
		key, value := fl.Arg(2), json.RawMessage(fl.Arg(3))
		if err := checkClaimName(key); err != nil {
			return err
		}
		if !json.Valid(value) {
			return fmt.Errorf("claim %s: %q is not JSON (a string needs quotes: '\"py\"')", key, clip(string(value), 60))
		}
		if string(value) != "null" {
			if err := checkClaims(map[string]json.RawMessage{key: value}); err != nil {
				return err
			}
		}
		updated, err := s.st.SetClaims(s.ctx, u.ID, map[string]json.RawMessage{key: value}, true, s.now)
		if err != nil {
			return err
		}
		if err := s.audit(evClaimsChanged, updated, "keys "+key); err != nil {
			return err
		}
		claims, _ := json.Marshal(updated.Claims)
		fmt.Printf("%s: claims %s\n", updated.Email, claims)
	case "verify":
		updated, err := s.st.MarkEmailVerified(s.ctx, u.ID, s.now)
		if err != nil {
			return err
		}
		if err := s.audit(evAdminVerified, updated, ""); err != nil {
			return err
		}
		fmt.Printf("%s: e-mail address verified\n", updated.Email)
	case "ban":
		reason := strings.TrimSpace(fl.String("reason"))
		if len(reason) > maxBanReasonLen {
			return errors.New("the reason must be at most 500 characters")
		}
		var expires time.Time
		if e := fl.String("expires"); e != "" {
			d, err := caddy.ParseDuration(e)
			if err != nil || d <= 0 {
				return fmt.Errorf("--expires %q is not a positive duration", e)
			}
			expires = s.now.Add(d)
		}
		updated, err := s.st.BanUser(s.ctx, u.ID, reason, expires, s.now)
		if err != nil {
			return err
		}
		detail := reason
		if !expires.IsZero() {
			detail += " (until " + isoTime(expires) + ")"
		}
		if err := s.audit(evUserBanned, updated, detail); err != nil {
			return err
		}
		fmt.Printf("%s: banned; sessions ended and tokens revoked\n", updated.Email)
	case "unban":
		updated, err := s.st.UnbanUser(s.ctx, u.ID, s.now)
		if err != nil {
			return err
		}
		if err := s.audit(evUserUnbanned, updated, ""); err != nil {
			return err
		}
		fmt.Printf("%s: unbanned\n", updated.Email)
	case "unlock":
		l, err := ratelimit.NewDatabaseLimiter(ratelimit.StaticDB{Handle: s.db}, ratelimit.Config{Zone: lockoutZone,
			Limits: []ratelimit.Limit{{Count: defaultLockoutFailures, Window: defaultLockoutWindow}}})
		if err != nil {
			return err
		}
		if err := l.Reset(s.ctx, u.Email); err != nil {
			return err
		}
		if err := s.audit(evUserUnlocked, u, ""); err != nil {
			return err
		}
		fmt.Printf("%s: unlocked\n", u.Email)
	}
	return nil
}

// lockoutZone is the limiter zone of failed sign-ins per account (see
// bruteForce); unlocking clears the account's key in it.
const lockoutZone = "oidc.sign_in.account"

func verifiedWord(v bool) string {
	if v {
		return "verified"
	}
	return "not verified"
}

func cmdEvents(fl caddycmd.Flags) (int, error) {
	q := storage.EventQuery{Event: fl.String("type"), Limit: fl.Int("limit"), Offset: fl.Int("offset")}
	now := time.Now()
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := fl.String(name); v != "" {
			t, err := parseSince(v, now)
			if err != nil {
				return exitError, fmt.Errorf("--%s: %v", name, err)
			}
			*dst = t
		}
	}
	s, done, err := openCLI(fl)
	if err != nil {
		return exitError, err
	}
	defer done()
	if ref := fl.String("user"); ref != "" {
		u, err := s.user(ref)
		if err != nil {
			return exitError, err
		}
		q.UserID = u.ID
	}
	events, err := s.st.ListEvents(s.ctx, q)
	if err != nil {
		return exitError, err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TIME\tEVENT\tOUTCOME\tUSER\tACTOR\tCLIENT\tIP\tDETAIL\n")
	for _, e := range events {
		who := e.Email
		if who == "" {
			who = e.UserID
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339), e.Event, e.Outcome,
			dash(who), dash(e.ActorID), dash(e.ClientID), dash(e.IP), strconv.Quote(e.Detail))
	}
	w.Flush()
	return exitOK, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
