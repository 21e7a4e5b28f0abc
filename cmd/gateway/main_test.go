package main

import (
	"context"
	"errors"
	"testing"
)

func TestRunSaysWhereTheAPIIs(t *testing.T) {
	m := NewMain()
	if err := m.ParseFlags([]string{"-http", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, ErrNotYet) {
		t.Fatalf("Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
