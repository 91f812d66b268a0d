package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterSameCollectorTwiceAndAcrossRegistries(t *testing.T) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "test", Name: "things_total", Help: "Things."}, []string{"result"})
	first := prometheus.NewPedanticRegistry()
	if err := RegisterTo(first, c); err != nil {
		t.Fatal(err)
	}
	// A second instance of the module in the same config.
	if err := RegisterTo(first, c); err != nil {
		t.Fatalf("same collector again: %v", err)
	}
	c.WithLabelValues("ok").Inc()
	// A reload: a new registry, the same collector, the count kept.
	second := prometheus.NewPedanticRegistry()
	if err := RegisterTo(second, c); err != nil {
		t.Fatal(err)
	}
	c.WithLabelValues("ok").Inc()
	if n, err := testutil.GatherAndCount(second, "intellistack_test_things_total"); err != nil || n != 1 {
		t.Fatalf("series in the new registry: %d, %v", n, err)
	}
	if v := testutil.ToFloat64(c.WithLabelValues("ok")); v != 2 {
		t.Fatalf("count after reload = %v, want 2", v)
	}
	// Another collector under the same name is a programming error.
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "test", Name: "things_total", Help: "Things."}, []string{"result"})
	if err := RegisterTo(second, other); err == nil {
		t.Fatal("a different collector under a registered name was accepted")
	}
}

func TestUserHash(t *testing.T) {
	if got := UserHash("u-1"); len(got) != 16 || got == "u-1" || got != UserHash("u-1") || got == UserHash("u-2") {
		t.Fatalf("UserHash(u-1) = %q", got)
	}
	if UserHash("") != "" {
		t.Fatal("an anonymous request gets no user field value")
	}
}
