package testutil

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metrics is one scrape of Caddy's admin /metrics: each sample's value by
// its series as the text format writes it, name{label="value",…} (labels
// in name order, as Prometheus writes them).
type Metrics map[string]float64

// Metrics scrapes the admin endpoint's /metrics, where Caddy shows the
// loaded config's registry (its own metrics and every module's).
func (c *Caddy) Metrics(t testing.TB) Metrics {
	t.Helper()
	// A new connection each time, as Load does: a reload replaces the
	// admin server.
	admin := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := admin.Get("http://" + c.AdminAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping /metrics: status %d", resp.StatusCode)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scraping /metrics: bad sample %q", line)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	return m
}

// Has says whether the scrape holds the series.
func (m Metrics) Has(series string) bool {
	_, ok := m[series]
	return ok
}

// Delta is how much each series grew from before to m (a series absent
// from before counts from 0): what a test did, whatever earlier tests of
// the same process counted into the process-wide collectors.
func (m Metrics) Delta(before Metrics) Metrics {
	d := Metrics{}
	for k, v := range m {
		d[k] = v - before[k]
	}
	return d
}
