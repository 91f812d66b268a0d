package reliability

import (
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// A semester day on one node on PostgreSQL: the class signs in, then each
// student streams tutor turns, lists threads, loads history and refreshes
// tokens for the load phase; a tenth of them run past their quota.
func TestSemesterDay(t *testing.T) {
	sc := currentScale()
	db := pgDatabase(t)
	model, answer := pacedModel(t, sc.Tokens)
	cfg := nodeConfig{Database: db, Issuer: "https://localhost:__HTTPS_PORT__", ModelURL: model.BaseURL(), Quota: sc.Quota}
	c := testutil.StartCaddyProcess(t, cfg.caddyfile())
	s := newSite(t, c)
	students := enrol(t, s, db, sc.Students, func(int) bool { return true })

	proc := watch(pidOf(t, c))
	tl := &tally{}
	wall := runDay(students, sc, modelAnswer(answer), tl, nil)
	dayReport(t, "semester day (one node, PostgreSQL, HTTP/2)", sc, students, tl, wall, []string{proc.end()}, modelAnswer(answer), nil)
}
