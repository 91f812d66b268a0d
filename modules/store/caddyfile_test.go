package store_test

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/store"
)

func TestAdaptGolden(t *testing.T) {
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        store.App
		wantErr     string
	}{
		{name: "empty", input: `intellistack`, want: store.App{}},
		{name: "all", input: `intellistack {
			database postgres://db/app
			secret {env.S}
			migrate check
		}`, want: store.App{Database: "postgres://db/app", Secret: "{env.S}", Migrate: "check"}},
		{name: "sqlite path", input: `intellistack {
			database /var/lib/is.db
		}`, want: store.App{Database: "/var/lib/is.db"}},
		{name: "placeholder checked later", input: `intellistack {
			database {env.DATABASE_URL}
		}`, want: store.App{Database: "{env.DATABASE_URL}"}},
		{name: "bad scheme", input: `intellistack {
			database mysql://db/app
		}`, wantErr: `unsupported scheme "mysql://"`},
		{name: "extra argument", input: `intellistack {
			database a b
		}`, wantErr: "wrong argument count"},
		{name: "missing argument", input: `intellistack {
			secret
		}`, wantErr: "wrong argument count"},
		{name: "bad migrate", input: `intellistack {
			migrate sometimes
		}`, wantErr: "not one of auto, check"},
		{name: "unknown option", input: `intellistack {
			databse x
		}`, wantErr: "unrecognized intellistack option: databse"},
		{name: "inline argument", input: `intellistack x`, wantErr: "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got store.App
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Database != tc.want.Database || got.Secret != tc.want.Secret || got.Migrate != tc.want.Migrate {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGlobalOptionOnlyOnce(t *testing.T) {
	_, err := testutil.AdaptCaddyfile(`{
	intellistack
	intellistack
}
:80`)
	if err == nil || !strings.Contains(err.Error(), "only once") {
		t.Fatalf("error = %v", err)
	}
}
