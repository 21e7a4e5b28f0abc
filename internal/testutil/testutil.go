// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"testing"
	"time"
)

// CheckFor calls f until it returns nil, failing the test with f's last error if that has
// not happened within d. Tests poll with it instead of sleeping a fixed time.
func CheckFor(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
