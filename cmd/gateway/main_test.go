package main

import (
	"strings"
	"testing"
)

func TestFlagsNeedSeedsAndPostgres(t *testing.T) {
	t.Setenv("TICKETVIEW_JWT_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-http", "127.0.0.1:0"}, "-seeds is required"},
		{[]string{"-seeds", "127.0.0.1:7946"}, "-postgres is required"},
		{[]string{"-seeds", "127.0.0.1:7946", "-postgres", "postgres://x", "extra"}, "unexpected arguments"},
	} {
		t.Setenv("TICKETVIEW_POSTGRES_URL", "")
		t.Setenv("TICKETVIEW_SEEDS", "")
		err := NewMain().ParseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlags(%q) = %v; want an error with %q", tc.args, err, tc.want)
		}
	}
	if err := NewMain().ParseFlags([]string{"-seeds", "a:1", "-postgres", "postgres://x"}); err == nil || !strings.Contains(err.Error(), "-jwt-secret is required") {
		t.Fatalf("without -jwt-secret: %v", err)
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"-seeds", "a:1, b:2", "-postgres", "postgres://x", "-jwt-secret", "gateway-test-access-token-key-012345"}); err != nil {
		t.Fatal(err)
	}
	if len(m.Seeds) != 2 || m.Seeds[1] != "b:2" {
		t.Fatalf("seeds = %q", m.Seeds)
	}
}
