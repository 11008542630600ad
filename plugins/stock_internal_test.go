package plugins

import (
	"slices"
	"testing"
)

func TestStockModules_Compile(t *testing.T) {
	want := []string{
		"thorp.policies.notify_slack", "thorp.policies.notify_webhook",
		"thorp.units",
	}
	for _, name := range want {
		if !slices.Contains(stockNames(), name) {
			t.Errorf("stock library lacks %s; it has %v", name, stockNames())
		}
	}
}
