package intellistack_test

import (
	"testing"

	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/store"
)

// Migration oidc 0003: the first release's users (role "user", Better-Auth's
// default) become students, with no custom claims, on both dialects.
func TestFirstReleaseUsersBecomeStudents(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			database := legacyDatabase(t, kind)
			db, err := store.Open(t.Context(), database, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := store.Migrate(t.Context(), db); err != nil {
				t.Fatal(err)
			}
			u, err := storage.New(db).UserByID(t.Context(), "u-1")
			if err != nil {
				t.Fatal(err)
			}
			if u.Role != "student" || u.Claims != nil || u.Email != "ada@example.com" {
				t.Fatalf("first-release user after the upgrade: %+v", u)
			}
		})
	}
}
