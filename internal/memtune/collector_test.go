package memtune

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMallocCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(MallocCollector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	for _, name := range []string{"tickcompact_c_heap_in_use_bytes", "tickcompact_c_heap_free_bytes", "tickcompact_c_heap_mmapped_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from %v", name, got)
		}
	}
	if got["tickcompact_c_heap_mmapped_bytes"] > got["tickcompact_c_heap_in_use_bytes"] {
		t.Errorf("mmapped %v exceeds in use %v, of which it is a part", got["tickcompact_c_heap_mmapped_bytes"], got["tickcompact_c_heap_in_use_bytes"])
	}
}
