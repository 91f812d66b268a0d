package intellistack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricName finds metric names in PromQL; histogram series map to their
// metric.
var metricName = regexp.MustCompile(`intellistack_[a-z0-9_]+`)

func baseMetric(series string) string {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if strings.HasSuffix(series, "_seconds"+suffix) {
			return strings.TrimSuffix(series, suffix)
		}
	}
	return series
}

// The Grafana dashboard and docs/metrics.md name the same metrics, every one
// of them is defined in a module's code, and the dashboard is a valid
// dashboard on a Prometheus data source variable.
func TestMetricsDocsMatchDashboard(t *testing.T) {
	md, err := os.ReadFile("docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	// The documented metrics: the first cell of the tables' rows.
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(intellistack_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(md), -1) {
		documented[m[1]] = true
	}
	if len(documented) < 10 {
		t.Fatalf("docs/metrics.md documents %d metrics", len(documented))
	}
	// Every metric the page mentions elsewhere (alerts) is documented.
	for _, name := range metricName.FindAllString(string(md), -1) {
		if !documented[baseMetric(name)] {
			t.Errorf("docs/metrics.md mentions %s, which its tables do not document", name)
		}
	}

	raw, err := os.ReadFile("docs/grafana/intellistack.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Fatal("the dashboard has no title or uid")
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Fatal("the dashboard has no Prometheus data source variable named datasource")
	}
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %+v, %d queries", p.Title, p.Datasource, len(p.Targets))
		}
		for _, target := range p.Targets {
			for _, name := range metricName.FindAllString(target.Expr, -1) {
				shown[baseMetric(name)] = true
			}
		}
	}
	for name := range documented {
		if !shown[name] {
			t.Errorf("%s is documented but has no panel", name)
		}
	}
	for name := range shown {
		if !documented[name] {
			t.Errorf("the dashboard shows %s, which docs/metrics.md does not document", name)
		}
	}

	// Each metric is defined in a module: its subsystem and name appear as
	// strings in one of the module's Go files.
	var sources []string
	_ = filepath.WalkDir("modules", func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "prometheus") {
				sources = append(sources, string(b))
			}
		}
		return nil
	})
	for name := range documented {
		subsystem, rest, _ := strings.Cut(strings.TrimPrefix(name, "intellistack_"), "_")
		if !slices.ContainsFunc(sources, func(src string) bool {
			return strings.Contains(src, `"`+subsystem+`"`) && strings.Contains(src, `"`+rest+`"`)
		}) {
			t.Errorf("%s is documented, but no module defines subsystem %q, name %q", name, subsystem, rest)
		}
	}
}
