package store

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadModuleMigrations(t *testing.T) {
	files := fstest.MapFS{
		"0001_core.sql":           {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_fn.sqlite.sql":      {Data: []byte("-- nothing to do on SQLite")},
		"0002_fn.postgres.sql":    {Data: []byte("CREATE FUNCTION f() …")},
		"0003_index.sql":          {Data: []byte("CREATE INDEX a_x ON a (x);")},
		"subfolder/0009_skip.sql": {Data: []byte("ignored")},
	}
	for _, d := range []Dialect{SQLite, Postgres} {
		ms, err := readModuleMigrations("m", files, d)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID())
		}
		if got := strings.Join(ids, " "); got != "m/0001_core m/0002_fn m/0003_index" {
			t.Fatalf("%s: %s", d, got)
		}
		if want := map[Dialect]string{SQLite: "-- nothing", Postgres: "CREATE FUNCTION"}[d]; !strings.HasPrefix(ms[1].SQL, want) {
			t.Fatalf("%s got the other dialect's file: %q", d, ms[1].SQL)
		}
	}
}

func TestReadModuleMigrationsRefusesBadFolders(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"bad name": {"1_core.sql": {}},
		"not sql":  {"0001_core.txt": {}},
		"gap":      {"0001_a.sql": {}, "0003_c.sql": {}},
		"one dialect only for a version": {
			"0001_a.sql": {}, "0002_b.postgres.sql": {},
		},
		"duplicate": {"0001_a.sql": {}, "0001_b.sql": {}},
		"both and a dialect file": {
			"0001_a.sql": {}, "0001_a.sqlite.sql": {},
		},
	} {
		if checkModuleMigrations("m", files) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegisterMigrationsPanicsOnDuplicateModule(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering the store's migrations twice did not panic")
		}
	}()
	RegisterMigrations("store", migrationFiles, "migrations")
}

func TestCheckModuleMigrationsAcceptsPairs(t *testing.T) {
	if err := checkModuleMigrations("m", fstest.MapFS{"0001_a.sql": {}, "0002_b.sqlite.sql": {}, "0002_b.postgres.sql": {}}); err != nil {
		t.Fatal(err)
	}
}
