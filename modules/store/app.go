// Package store is the Caddy app `intellistack`: it owns the one database that
// every IntelliStack module shares, applies the embedded migrations, and
// hands a ready handle to the modules that ask for it.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/metrics"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `intellistack` app, configured in the Caddyfile's global options:
//
//	{
//		intellistack {
//			database <path | postgres://…>
//			secret   <value>
//			migrate  auto|check
//		}
//	}
//
// It opens the database in Start (never in Provision, so `caddy validate`
// needs no database), applies pending migrations once, and keeps the handle in
// a caddy.UsagePool so that config reloads reuse it.
type App struct {
	// Database is where IntelliStack keeps its data. Empty (the default) means
	// an SQLite file, intellistack/intellistack.db, in Caddy's data directory;
	// a file path means an SQLite file there; a postgres:// or postgresql://
	// URL means PostgreSQL (the store for several nodes). Placeholders such as
	// {env.DATABASE_URL} are expanded when the config loads, so the URL and its
	// password never reach the adapted or autosaved config.
	//
	//	database {env.DATABASE_URL}
	Database string `json:"database,omitempty"`

	// Secret is the installation's master secret: modules derive their keys
	// from it (encryption of signing keys at rest, cookie signatures). Every
	// node of a cluster must have the same value, so it is required with
	// PostgreSQL. With SQLite and no secret, a random one is created once in
	// the data directory. Use a placeholder: secret {env.INTELLISTACK_SECRET}.
	Secret string `json:"secret,omitempty"`

	// Migrate says what Start does with pending migrations: "auto" (the
	// default) applies them; "check" refuses to start while any is pending,
	// for operators who run `intellistack migrate up` before a rollout.
	//
	//	migrate auto|check
	Migrate string `json:"migrate,omitempty"`

	target   target
	key      string
	handle   *handle
	secret   *secretSource
	ctx      caddy.Context
	logger   *zap.Logger
	released bool
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves placeholders and takes a reference to the shared handle
// without touching the database.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()

	database := repl.ReplaceKnown(a.Database, "")
	if strings.TrimSpace(database) == "" && strings.Contains(a.Database, "{") {
		a.logger.Warn("database setting expanded to an empty value; using the embedded SQLite default",
			zap.String("setting", a.Database))
	}
	dir := dataDir(ctx)
	t, err := parseTarget(database, dir)
	if err != nil {
		return err
	}
	a.target = t
	if err := metrics.Register(ctx, dbPool); err != nil {
		return err
	}

	switch a.Migrate {
	case "", "auto", "check":
	default:
		return fmt.Errorf("migrate: %q is not one of auto, check", a.Migrate)
	}

	secret := repl.ReplaceKnown(a.Secret, "")
	if secret == "" && t.dialect == Postgres {
		return errors.New("secret is required with a PostgreSQL database: every node must derive the same keys (secret {env.INTELLISTACK_SECRET})")
	}
	if secret != "" && len(secret) < minSecretLength {
		return fmt.Errorf("secret is too short: use at least %d characters (for example `openssl rand -base64 32`)", minSecretLength)
	}
	a.secret = newSecretSource(secret, dir)

	a.key = handleKey(t)
	val, _, err := handles.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return newHandle(t), nil
	})
	if err != nil {
		return err
	}
	a.handle = val.(*handle)
	return nil
}

// Start opens and migrates the database (a no-op when a previous generation
// already did). An error here aborts the load or reload, and the previous
// config keeps serving.
func (a *App) Start() error {
	ctx, cancel := context.WithTimeout(a.ctx, 2*time.Minute)
	defer cancel()
	begin := time.Now()
	// The secret first: a handler that sees the database ready may derive keys.
	if err := a.secret.load(); err != nil {
		return err
	}
	if err := a.handle.open(ctx, a.migrate); err != nil {
		return err
	}
	a.logger.Info("database ready",
		zap.String("dialect", string(a.target.dialect)),
		zap.String("database", a.target.redacted()),
		zap.Duration("took", time.Since(begin)))
	return nil
}

func (a *App) migrate(ctx context.Context, db *DB) error {
	if a.Migrate == "check" {
		statuses, err := MigrationStatuses(ctx, db)
		if err != nil {
			return err
		}
		var pending []string
		for _, s := range statuses {
			if !s.Applied {
				pending = append(pending, s.ID())
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("database has %d pending migrations (%s) and migrate is 'check': run `intellistack migrate up` first",
				len(pending), strings.Join(pending, ", "))
		}
		return nil
	}
	applied, err := Migrate(ctx, db)
	for _, m := range applied {
		a.logger.Info("applied migration", zap.String("module", m.Module), zap.Int("version", m.Version), zap.String("name", m.Name))
	}
	return err
}

// Stop does nothing: the handle outlives this generation when a reload is
// under way and is closed by the usage pool when the last reference goes.
func (a *App) Stop() error { return nil }

// Cleanup drops this generation's reference; it also runs after a failed
// Provision, so it tolerates a partial one.
//
// The handle pointer is kept: the old generation may still be serving
// requests (an HTTP/2 connection with an open stream keeps sending new
// requests to the old server), and those must keep working while a newer
// generation holds the handle open.
func (a *App) Cleanup() error {
	if a.key == "" || a.handle == nil || a.released {
		return nil
	}
	a.released = true
	_, err := handles.Delete(a.key)
	return err
}

// DB waits until the database is open and migrated, then returns it. Handlers
// call it per request (it is cheap once ready) with the request's context, so
// a request that arrives while the app is still starting waits instead of
// failing.
func (a *App) DB(ctx context.Context) (*DB, error) {
	h := a.handle
	if h == nil {
		return nil, ErrNotReady
	}
	return h.wait(ctx)
}

// Dialect is the dialect of the configured database, known without I/O.
func (a *App) Dialect() Dialect { return a.target.dialect }

// GetApp returns the `intellistack` app for a module's Provision, with an
// error that tells the operator what to add when it is not configured.
// Modules must use this rather than ctx.App, which would silently create an
// empty app.
func GetApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("intellistack")
	if err != nil {
		if errors.Is(err, caddy.ErrNotConfigured) {
			// An absent global block still means the embedded default: load it
			// as configured with no options, exactly as `intellistack {}` would.
			v, err = ctx.App("intellistack")
		}
		if err != nil {
			return nil, fmt.Errorf("loading the intellistack app: %v", err)
		}
	}
	app, ok := v.(*App)
	if !ok {
		return nil, fmt.Errorf("intellistack app has unexpected type %T", v)
	}
	return app, nil
}

// dataDir is where the embedded defaults live: the root of Caddy's file
// storage when that is what is configured (so `storage file_system <dir>`
// moves the database too), else Caddy's data directory.
func dataDir(ctx caddy.Context) string {
	if ctx.Context != nil {
		if fs, ok := storageOf(ctx).(*certmagic.FileStorage); ok && fs.Path != "" {
			return fs.Path
		}
	}
	return caddy.AppDataDir()
}

func storageOf(ctx caddy.Context) (s certmagic.Storage) {
	defer func() {
		// A bare test context has no config and panics; fall back to the default.
		if recover() != nil {
			s = nil
		}
	}()
	return ctx.Storage()
}

var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
