package chatkit

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/identity"
	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddy.RegisterModule(Usage{})
}

// Usage answers GET requests with the chat usage per user per UTC day
// (messages, replies, errors, cancelled replies, average time to first
// token and reply time), for admins only: the request's identity must hold
// AdminRole among its roles, else 403 (401 without a user).
//
//	GET <path>?from=2026-01-01&to=2026-01-31&user=<id>
//	→ {"from":"…","to":"…","data":[{"user","day","messages",…}]}
//
// from and to default to the last 30 days; user to everyone.
//
//	chatkit_usage [<matcher>] {
//		admin_role <role>
//	}
type Usage struct {
	// AdminRole is the role allowed to read usage. Default: admin.
	//
	//	admin_role <role>
	AdminRole string `json:"admin_role,omitempty"`

	app    *store.App
	db     *atomic.Pointer[store.DB]
	logger *zap.Logger
	now    func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Usage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.chatkit_usage",
		New: func() caddy.Module { return new(Usage) },
	}
}

// Provision finds the database.
func (u *Usage) Provision(ctx caddy.Context) error {
	u.logger = ctx.Logger()
	if u.AdminRole == "" {
		u.AdminRole = "admin"
	}
	if u.now == nil {
		u.now = time.Now
	}
	app, err := store.GetApp(ctx)
	if err != nil {
		return err
	}
	u.app = app
	u.db = new(atomic.Pointer[store.DB])
	return nil
}

const maxUsageRows = 10000

// ServeHTTP answers the query.
func (u *Usage) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "use GET").Write(w)
		return nil
	}
	id, ok := identity.FromRequest(r)
	if !ok {
		apierror.New(http.StatusUnauthorized, "unauthenticated", "sign in first").Write(w)
		return nil
	}
	if !id.HasRole(u.AdminRole) {
		apierror.New(http.StatusForbidden, "forbidden", "usage is for admins only").Write(w)
		return nil
	}
	q := r.URL.Query()
	today := u.now().UTC()
	from, to := today.AddDate(0, 0, -29).Format(time.DateOnly), today.Format(time.DateOnly)
	for _, p := range []struct {
		key string
		dst *string
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.key); v != "" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				protocol.BadRequest("%s must be a date like 2026-01-31", p.key).Write(w)
				return nil
			}
			*p.dst = v
		}
	}
	limit := maxUsageRows
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			protocol.BadRequest("limit must be a positive integer").Write(w)
			return nil
		}
		limit = min(n, maxUsageRows)
	}
	db := u.db.Load()
	var err error
	if db == nil {
		// Remembered for requests this generation serves after a reload
		// (see Handler.database).
		if db, err = u.app.DB(r.Context()); err == nil {
			u.db.Store(db)
		}
	}
	if err != nil {
		apierror.New(http.StatusServiceUnavailable, "unavailable", "the database is not available").Write(w)
		return nil
	}
	rows, err := (&storage{db: db}).usage(r.Context(), q.Get("user"), from, to, limit)
	if err != nil {
		u.logger.Error("reading usage", zap.Error(err))
		apierror.New(http.StatusInternalServerError, "internal", "internal error").Write(w)
		return nil
	}
	apierror.JSON(w, http.StatusOK, struct {
		From string     `json:"from"`
		To   string     `json:"to"`
		Data []UsageRow `json:"data"`
	}{from, to, rows})
	return nil
}

func parseUsage(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	u := new(Usage)
	err := u.UnmarshalCaddyfile(h.Dispenser)
	return u, err
}

// UnmarshalCaddyfile parses the syntax shown on Usage.
func (u *Usage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "admin_role":
			if !d.Args(&u.AdminRole) {
				return d.ArgErr()
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective: %s", d.Val())
		}
	}
	return nil
}

var (
	_ caddy.Provisioner           = (*Usage)(nil)
	_ caddyhttp.MiddlewareHandler = (*Usage)(nil)
	_ caddyfile.Unmarshaler       = (*Usage)(nil)
)
