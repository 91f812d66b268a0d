package oidc

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func init() {
	conformanceCases = append(conformanceCases, conformanceCase{"imported bcrypt hash signs in and is re-hashed to argon2id", testRehash})
}

func testRehash(t *testing.T, e *env) {
	db := openDB(t, e.database)
	hash, _ := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	ctx := t.Context()
	if _, err := db.Exec(ctx, `INSERT INTO users (id, email, email_verified, name, role, banned, metadata, created_at, updated_at)
		VALUES ('imported-user', 'imported@example.com', 1, 'Imported', 'instructor', 0, '{}', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at)
		VALUES ('imported-account', 'imported-user', 'credential', 'imported-user', ?, 0, 0)`, string(hash)); err != nil {
		t.Fatal(err)
	}
	br := newBrowser(t, e.c)
	p := br.get(e.issuer + "/oauth2/sign-in")
	action, vals := p.form(t, "sign-in")
	vals.Set("email", "imported@example.com")
	vals.Set("password", testPassword)
	if p = br.post(action, vals); p.status != http.StatusOK {
		t.Fatalf("sign-in with an imported bcrypt hash: %d", p.status)
	}
	var stored string
	_ = db.QueryRow(ctx, "SELECT password FROM accounts WHERE id = 'imported-account'").Scan(&stored)
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash after sign-in: %.30s", stored)
	}
}
