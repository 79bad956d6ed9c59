package aggregator

import (
	"strings"
	"testing"
)

func TestClaimTransactionalIDSlots(t *testing.T) {
	group := "test-" + t.Name()
	a, err := claimTransactionalID(group, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := claimTransactionalID(group, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || !strings.HasSuffix(a.ID, "-0") || !strings.HasSuffix(b.ID, "-1") {
		t.Fatalf("ids %q and %q: want distinct slots 0 and 1", a.ID, b.ID)
	}
	a.Release()
	a.Release() // idempotent
	c, err := claimTransactionalID(group, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != a.ID {
		t.Fatalf("after release got %q, want the freed %q", c.ID, a.ID)
	}
	b.Release()
	c.Release()
}
