package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/intellistack/intellistack/modules/oidc/importba"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "import",
		Usage: "better-auth --from <postgres URL|SQLite file> [--config <Caddyfile> | --database <path|url>] [--dry-run] [--json]",
		Short: "Imports the users and sessions of a Better-Auth database into the OpenID provider",
		Long: `
Imports a Better-Auth (1.x) database into the oidc_provider's tables, so that
its users sign in with their passwords and their browsers' Better-Auth
session cookies keep working (with better_auth_api { secret } set to
Better-Auth's BETTER_AUTH_SECRET):

  users            ids kept; e-mail verification, name, image, role ("user"
                   becomes student, "admin" admin; --map-role for others),
                   ban, ban reason and expiry
  credentials      the password hashes as they are: Better-Auth's scrypt,
                   bcrypt and argon2id are verified at sign-in and
                   re-hashed to argon2id then
  social accounts  linked upstream identities named by Better-Auth's
                   providerId (--map-provider github=gh renames), without
                   their OAuth tokens
  sessions         the live ones, under the hash of their token

Verification tokens and JWT keys are short-lived and not imported. The
source is opened read-only (SQLite mode=ro; PostgreSQL
default_transaction_read_only and a READ ONLY snapshot); its tables are
Better-Auth's default names (use search_path in the URL for another schema).

Users move in batches (--batch, default 500), each with its accounts and
sessions in one transaction; a failed batch is rolled back and reported, and
a re-run resumes (or --start-after <user id> skips what was done). Re-runs
are idempotent: rows already equal are left alone, rows changed here since
(a password re-hashed at sign-in) are kept, rows changed in the source are
updated. Each committed batch is verified by re-reading every row.

The destination is found as for "intellistack user" (--database, or the
intellistack app of --config); pending migrations are applied first. The
report lists what was imported, updated, unchanged, kept and skipped (with
the reason per row); --json prints it as JSON. Exit status: 0 when every
batch committed and verified (skipped rows included), 1 otherwise.`,
		CobraFunc: func(cmd *cobra.Command) {
			dbFlags(cmd)
			cmd.Flags().String("from", "", "The Better-Auth database: postgres:// URL or SQLite file")
			cmd.Flags().Bool("dry-run", false, "Run every batch and roll it back: report what would change")
			cmd.Flags().Bool("json", false, "Print the report as JSON")
			cmd.Flags().Int("batch", 500, "Users per transaction")
			cmd.Flags().String("start-after", "", "Skip users whose id sorts at or before this one (resume)")
			cmd.Flags().StringSlice("map-role", nil, "Better-Auth role to roles here, e.g. teacher=instructor (repeatable)")
			cmd.Flags().StringSlice("map-provider", nil, "Better-Auth providerId to upstream name, e.g. github=gh (repeatable)")
			cmd.Args = cobra.ExactArgs(1)
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdImport)
		},
	})
}

// cliStdout is where import writes its report (tests replace it).
var cliStdout io.Writer = os.Stdout

func cmdImport(fl caddycmd.Flags) (int, error) {
	if fl.Arg(0) != "better-auth" {
		return exitError, fmt.Errorf("unknown source kind %q: use intellistack import better-auth --from …", clip(fl.Arg(0), 40))
	}
	from := fl.String("from")
	if from == "" {
		return exitError, errors.New("--from <postgres URL|SQLite file> is required")
	}
	opt := importba.Options{DryRun: fl.Bool("dry-run"), BatchSize: fl.Int("batch"), StartAfter: fl.String("start-after")}
	var err error
	if opt.Roles, err = pairs(fl, "map-role"); err != nil {
		return exitError, err
	}
	for from, to := range opt.Roles {
		if to, err = parseRoles([]string{to}); err != nil {
			return exitError, fmt.Errorf("--map-role %s: %v", from, err)
		}
		opt.Roles[strings.ToLower(from)] = to
	}
	if opt.Providers, err = pairs(fl, "map-provider"); err != nil {
		return exitError, err
	}

	// No overall deadline: a large import takes as long as it takes;
	// Ctrl-C rolls back the batch in flight.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	database, dir, err := store.DatabaseFromFlags(fl)
	if err != nil {
		return exitError, err
	}
	openCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	db, err := store.Open(openCtx, database, dir)
	if err != nil {
		return exitError, fmt.Errorf("opening the database: %v", err)
	}
	defer db.Close()
	if _, err := store.Migrate(openCtx, db); err != nil {
		return exitError, fmt.Errorf("migrating the database: %v", err)
	}
	src, err := importba.OpenSource(openCtx, from)
	if err != nil {
		return exitError, fmt.Errorf("opening the Better-Auth database: %v", err)
	}
	defer src.Close()

	st := storage.New(db)
	rep, runErr := importba.Run(ctx, src, st, opt)
	if fl.String("config") != "" && fl.String("database") == "" {
		if note := secretNote(fl); note != "" {
			rep.Notes = append(rep.Notes, note)
		}
	}
	if fl.Bool("json") {
		enc := json.NewEncoder(cliStdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printImportReport(cliStdout, rep)
	}
	if !opt.DryRun && rep.Changes() > 0 {
		e := storage.Event{CreatedAt: time.Now(), Event: "users_imported", Outcome: "success", ActorID: "cli", UserAgent: "intellistack-cli",
			Detail: fmt.Sprintf("better-auth: %d users, %d credentials, %d social accounts, %d sessions imported or updated; %d rows skipped",
				rep.Users.Imported+rep.Users.Updated, rep.Credentials.Imported+rep.Credentials.Updated,
				rep.Social.Imported+rep.Social.Updated, rep.Sessions.Imported+rep.Sessions.Updated, len(rep.Skips))}
		if runErr != nil {
			e.Outcome = "failure"
		}
		if err := st.RecordEvent(context.WithoutCancel(ctx), e); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the audit event: %v", err)
		}
	}
	if runErr != nil {
		return exitError, runErr
	}
	return exitOK, nil
}

// pairs reads a repeatable from=to flag.
func pairs(fl caddycmd.Flags, name string) (map[string]string, error) {
	vals, err := fl.GetStringSlice(name)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, v := range vals {
		from, to, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return nil, fmt.Errorf("--%s %q: want from=to", name, clip(v, 80))
		}
		out[strings.TrimSpace(from)] = strings.TrimSpace(to)
	}
	return out, nil
}

// secretNote warns when the config's better_auth_api has no secret: the
// imported sessions' cookies are signed with Better-Auth's secret and are
// refused without it.
func secretNote(fl caddycmd.Flags) string {
	cfg, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil || cfg == nil {
		return ""
	}
	var v any
	if json.Unmarshal(cfg, &v) != nil {
		return ""
	}
	found, withSecret := false, false
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "better_auth_api" {
				found = true
				if s, _ := x["secret"].(string); s != "" {
					withSecret = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	switch {
	case !found:
		return "the config has no better_auth_api: imported sessions need it (with secret = Better-Auth's BETTER_AUTH_SECRET) for their cookies to be accepted"
	case !withSecret:
		return "better_auth_api has no secret: imported sessions' cookies are signed with Better-Auth's BETTER_AUTH_SECRET and are refused until it is set"
	}
	return ""
}

func printImportReport(w io.Writer, r *importba.Report) {
	if r.DryRun {
		fmt.Fprintln(w, "Dry run: nothing was written.")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tIMPORTED\tUPDATED\tUNCHANGED\tKEPT\tSKIPPED\t\n")
	for _, row := range []struct {
		name string
		c    importba.Counts
	}{{"users", r.Users}, {"credentials", r.Credentials}, {"social accounts", r.Social}, {"sessions", r.Sessions}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", row.name, row.c.Imported, row.c.Updated, row.c.Unchanged, row.c.Kept, row.c.Skipped)
	}
	tw.Flush()
	batches := "batches"
	if r.Batches == 1 {
		batches = "batch"
	}
	fmt.Fprintf(w, "%d changes in %d %s", r.Changes(), r.Batches, batches)
	if !r.DryRun {
		fmt.Fprintf(w, "; %d rows verified", r.Verified)
	}
	fmt.Fprintln(w)
	if len(r.Skips) > 0 {
		fmt.Fprintln(w, "Skipped:")
		for _, s := range r.Skips {
			fmt.Fprintf(w, "  %s %s: %s\n", s.Table, s.ID, s.Reason)
		}
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "VERIFICATION FAILED: %s\n", m)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", r.Error)
		if r.LastUserID != "" {
			fmt.Fprintf(w, "Committed up to user %s: re-run, or add --start-after %s\n", r.LastUserID, r.LastUserID)
		}
	}
}
