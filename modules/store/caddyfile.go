package store

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("intellistack", parseGlobalOption)
}

// parseGlobalOption sets up the app from the global options block:
//
//	{
//		intellistack {
//			database <path | postgres://…>
//			secret   <value>
//			migrate  auto|check
//		}
//	}
//
// The block may be empty (`intellistack`), which means the embedded SQLite
// default with a generated secret.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("intellistack: the global option may appear only once")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "intellistack", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile parses the block shown on parseGlobalOption.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "database":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Database = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if err := checkDatabaseSyntax(a.Database); err != nil {
				return d.Err(err.Error())
			}
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Secret = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "migrate":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Migrate = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if a.Migrate != "auto" && a.Migrate != "check" {
				return d.Errf("migrate: %q is not one of auto, check", a.Migrate)
			}
		default:
			return d.Errf("unrecognized intellistack option: %s", d.Val())
		}
	}
	return nil
}

// checkDatabaseSyntax rejects a literal value that can never work, at adapt
// time; values with placeholders are checked again once expanded.
func checkDatabaseSyntax(value string) error {
	if strings.Contains(value, "{") {
		return nil
	}
	_, err := parseTarget(value, "")
	return err
}

var _ caddyfile.Unmarshaler = (*App)(nil)
