package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "migrate",
		Usage: "[status|up] [--config <path> [--adapter <name>]] [--database <path|url>]",
		Short: "Shows or applies IntelliStack's database migrations",
		Long: `
Shows (status, the default) or applies (up) the embedded IntelliStack
migrations, for operators who migrate ahead of a rollout and then run the new
nodes with "migrate check" in the intellistack global option.

The database comes from --database, or else from the intellistack app of the
config (--config, or the Caddyfile in the current folder), with {env.*}
placeholders expanded. An empty setting means the embedded SQLite default in
Caddy's data directory (or in the root of a file_system storage).

"up" takes the same PostgreSQL advisory lock as a starting node, so it is safe
to run while nodes start. Exit status: 0 on success; 1 on error; 2 when
"status" finds pending or modified migrations.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("config", "c", "", "Configuration file")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.Flags().String("database", "", "Database setting (SQLite path or postgres:// URL); overrides the config")
			cmd.Args = cobra.MaximumNArgs(1)
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdMigrate)
		},
	})
}

func cmdMigrate(fl caddycmd.Flags) (int, error) {
	action := fl.Arg(0)
	if action == "" {
		action = "status"
	}
	if action != "status" && action != "up" {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("unknown action %q: use status or up", action)
	}
	database, dir, err := DatabaseFromFlags(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := Open(ctx, database, dir)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	defer db.Close()

	if action == "up" {
		applied, err := Migrate(ctx, db)
		for _, m := range applied {
			fmt.Printf("applied %s\n", m.ID())
		}
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		if len(applied) == 0 {
			fmt.Println("nothing to apply: the database is up to date")
		}
		return caddy.ExitCodeSuccess, nil
	}

	statuses, err := MigrationStatuses(ctx, db)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "MIGRATION\tSTATE\n")
	attention := false
	for _, s := range statuses {
		state := "pending"
		switch {
		case s.Modified:
			state = "MODIFIED since applied " + s.AppliedAt.Format(time.RFC3339)
			attention = true
		case s.Applied:
			state = "applied " + s.AppliedAt.Format(time.RFC3339)
		default:
			attention = true
		}
		fmt.Fprintf(w, "%s\t%s\n", s.ID(), state)
	}
	w.Flush()
	if attention {
		return 2, nil
	}
	return caddy.ExitCodeSuccess, nil
}

// DatabaseFromFlags finds the database setting and the data folder for the
// embedded default the way the running server would: --database, else the
// intellistack app of --config (with --adapter). Every subcommand that works
// on the database (migrate, user, events) takes these flags.
func DatabaseFromFlags(fl caddycmd.Flags) (database, dir string, err error) {
	dir = caddy.AppDataDir()
	if v := fl.String("database"); v != "" {
		return caddy.NewReplacer().ReplaceKnown(v, ""), dir, nil
	}
	cfgJSON, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return "", "", err
	}
	if cfgJSON == nil {
		return "", "", errors.New("no config: pass --config <Caddyfile> or --database <path|url>")
	}
	var cfg struct {
		Storage struct {
			Module string `json:"module"`
			Root   string `json:"root"`
		} `json:"storage"`
		Apps struct {
			Intellistack App `json:"intellistack"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return "", "", fmt.Errorf("reading config: %v", err)
	}
	if cfg.Storage.Module == "file_system" && cfg.Storage.Root != "" {
		dir = cfg.Storage.Root
	}
	return caddy.NewReplacer().ReplaceKnown(cfg.Apps.Intellistack.Database, ""), dir, nil
}
