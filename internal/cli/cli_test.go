package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestSecretsTakeFlagThenEnvThenDefault(t *testing.T) {
	t.Setenv("TV_TEST_A", "from-env")
	t.Setenv("TV_TEST_B", "from-env")
	t.Setenv("TV_TEST_C", "")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a, b, c := "", "", "default"
	s := NewSecrets(fs)
	s.String(&a, "a", "TV_TEST_A", "")
	s.String(&b, "b", "TV_TEST_B", "")
	s.String(&c, "c", "TV_TEST_C", "")
	if err := fs.Parse([]string{"-b", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	s.Resolve()
	if a != "from-env" || b != "from-flag" || c != "default" {
		t.Fatalf("a=%q b=%q c=%q", a, b, c)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), "from-env") {
		t.Fatalf("-help shows an environment value:\n%s", help.String())
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("SplitList = %q", got)
	}
}
