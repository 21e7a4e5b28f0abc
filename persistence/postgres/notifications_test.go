package postgres_test

import (
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestNotificationStore(t *testing.T) {
	t.Parallel()
	storetest.TestNotificationStore(t, func(t *testing.T) ticketview.NotificationStore { return openTest(t) })
}
