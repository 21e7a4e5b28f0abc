package cluster

import (
	"testing"

	ticketview "github.com/ticketview/ticketview"
)

func TestIdentityRoundTripsAndRejectsMalformed(t *testing.T) {
	id := ticketview.SectionID{Event: "harbour-nights", Section: "floor-vip"}
	got, err := ParseIdentity(Identity(id))
	if err != nil || got != id {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for _, bad := range []string{"", "event", "/section", "event/", "a/b/c"} {
		if _, err := ParseIdentity(bad); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("ParseIdentity(%q) = %v, want invalid_input", bad, err)
		}
	}
}
