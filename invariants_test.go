package ticketview_test

import (
	"testing"

	tv "github.com/ticketview/ticketview"
)

// TestInvariantCheckerNoticesDamage makes sure the checker the other tests and the fuzz
// target rely on is not blind.
func TestInvariantCheckerNoticesDamage(t *testing.T) {
	for _, what := range []string{"held-counter", "rowFree", "byOwner", "status", "heap"} {
		t.Run("a damaged "+what+" is noticed", func(t *testing.T) {
			s := gridSection(t, 2, 10)
			runSteps(s, seatedHistory[:5])
			checkInv(t, s)
			tv.Corrupt(s, what)
			if err := tv.CheckInvariants(s); err == nil {
				t.Fatal("the checker found nothing")
			}
		})
	}
}
