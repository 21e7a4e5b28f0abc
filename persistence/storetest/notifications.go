package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestNotificationStore checks a ticketview.NotificationStore against the contract. open
// is called once per subtest and must return a store without notifications or reminders.
// The contract:
//
//   - ClaimNotification answers Claimed for a key never claimed; Sent once the key was
//     marked done (DoneNotification); InFlight while a claim is younger than the lease;
//     Claimed again when the claim is lease or more old and not done (the sender
//     crashed). Of concurrent claims of one new key, exactly one is Claimed.
//   - ReleaseNotification drops a claim (the next claim is Claimed at once); it leaves a
//     sent notification sent, and a key never claimed is no error.
//   - An empty or overlong key, a lease of 0 or less, or a zero time is EINVALID.
//   - ScheduleReminder adds or moves (upsert by order id) a reminder; CancelReminder drops
//     it (none: no error); RescheduleEventReminders moves every reminder of the event
//     and only those; DueReminders answers those due at or before now, earliest first
//     then by order id, at most limit. A reminder without order, event or due time is
//     EINVALID.
func TestNotificationStore(t *testing.T, open func(t *testing.T) ticketview.NotificationStore) {
	t.Run("ClaimSent", func(t *testing.T) { testClaimSent(t, open(t)) })
	t.Run("LeaseExpiry", func(t *testing.T) { testClaimLease(t, open(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testReleaseClaim(t, open(t)) })
	t.Run("ClaimValidation", func(t *testing.T) { testClaimValidation(t, open(t)) })
	t.Run("Reminders", func(t *testing.T) { testReminders(t, open(t)) })
	t.Run("Reschedule", func(t *testing.T) { testRescheduleReminders(t, open(t)) })
	t.Run("DueOrder", func(t *testing.T) { testDueReminderOrder(t, open(t)) })
	t.Run("ReminderValidation", func(t *testing.T) { testReminderValidation(t, open(t)) })
}

const notificationLease = 2 * time.Minute

func claimNotification(t *testing.T, s ticketview.NotificationStore, key string, now time.Time) ticketview.ClaimResult {
	t.Helper()
	res, err := s.ClaimNotification(ctxFor(t), key, now, notificationLease)
	if err != nil {
		t.Fatalf("ClaimNotification(%s): %v", key, err)
	}
	return res
}

func wantClaim(t *testing.T, s ticketview.NotificationStore, key string, now time.Time, want ticketview.ClaimResult) {
	t.Helper()
	if got := claimNotification(t, s, key, now); got != want {
		t.Fatalf("ClaimNotification(%s) at %s = %d, want %d", key, now.Format(time.RFC3339Nano), got, want)
	}
}

func testClaimSent(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	now := BaseTime
	wantClaim(t, s, "m1/email", now, ticketview.Claimed)
	wantClaim(t, s, "m1/email", now.Add(time.Second), ticketview.InFlight)
	wantClaim(t, s, "m1/sms", now, ticketview.Claimed) // another key is another notification
	if err := s.DoneNotification(ctx, "m1/email", now.Add(2*time.Second)); err != nil {
		t.Fatalf("DoneNotification: %v", err)
	}
	wantClaim(t, s, "m1/email", now.Add(3*time.Second), ticketview.Sent)
	// Sent stays sent, also long after any lease and after a release.
	wantClaim(t, s, "m1/email", now.Add(24*time.Hour), ticketview.Sent)
	if err := s.ReleaseNotification(ctx, "m1/email"); err != nil {
		t.Fatalf("ReleaseNotification of a sent one: %v", err)
	}
	wantClaim(t, s, "m1/email", now.Add(25*time.Hour), ticketview.Sent)
	// Done twice is no error; done without a claim marks it sent.
	if err := s.DoneNotification(ctx, "m1/email", now.Add(26*time.Hour)); err != nil {
		t.Fatalf("DoneNotification again: %v", err)
	}
	if err := s.DoneNotification(ctx, "m2/email", now); err != nil {
		t.Fatalf("DoneNotification without a claim: %v", err)
	}
	wantClaim(t, s, "m2/email", now, ticketview.Sent)
	wantClaim(t, s, "m1/sms", now.Add(time.Minute), ticketview.InFlight)
}

func testClaimLease(t *testing.T, s ticketview.NotificationStore) {
	now := BaseTime
	wantClaim(t, s, "k", now, ticketview.Claimed)
	wantClaim(t, s, "k", now.Add(notificationLease-time.Nanosecond), ticketview.InFlight)
	wantClaim(t, s, "k", now.Add(-time.Hour), ticketview.InFlight) // a clock behind sees it in flight
	// The sender crashed: once the lease passed, the claim is taken again, and renewed.
	renewed := now.Add(notificationLease)
	wantClaim(t, s, "k", renewed, ticketview.Claimed)
	wantClaim(t, s, "k", renewed.Add(notificationLease/2), ticketview.InFlight)
	wantClaim(t, s, "k", renewed.Add(notificationLease+time.Second), ticketview.Claimed)
	if err := s.DoneNotification(ctxFor(t), "k", renewed.Add(notificationLease+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, "k", renewed.Add(10*notificationLease), ticketview.Sent)
}

func testConcurrentClaims(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	const n = 20
	for round := range 3 {
		key := fmt.Sprintf("race-%d/email", round)
		results := make([]ticketview.ClaimResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = s.ClaimNotification(ctx, key, BaseTime, notificationLease)
			}()
		}
		close(start)
		wg.Wait()
		claimed := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, claim %d: %v", round, i, errs[i])
			}
			switch results[i] {
			case ticketview.Claimed:
				claimed++
			case ticketview.InFlight:
			default:
				t.Fatalf("round %d, claim %d: %d, want Claimed or InFlight", round, i, results[i])
			}
		}
		if claimed != 1 {
			t.Fatalf("round %d: %d of %d concurrent claims Claimed, want exactly 1", round, claimed, n)
		}
	}
}

func testReleaseClaim(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	now := BaseTime
	wantClaim(t, s, "r/email", now, ticketview.Claimed)
	if err := s.ReleaseNotification(ctx, "r/email"); err != nil {
		t.Fatalf("ReleaseNotification: %v", err)
	}
	// The send failed and was released: the retry claims it at once.
	wantClaim(t, s, "r/email", now.Add(time.Second), ticketview.Claimed)
	wantClaim(t, s, "r/email", now.Add(2*time.Second), ticketview.InFlight)
	if err := s.DoneNotification(ctx, "r/email", now.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, "r/email", now.Add(4*time.Second), ticketview.Sent)
	if err := s.ReleaseNotification(ctx, "never-claimed"); err != nil {
		t.Fatalf("ReleaseNotification of a key never claimed: %v", err)
	}
	wantClaim(t, s, "never-claimed", now, ticketview.Claimed)
}

func testClaimValidation(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	long := strings.Repeat("k", 10_000)
	for _, key := range []string{"", long, "nul\x00key", "bad\xffutf8"} {
		_, err := s.ClaimNotification(ctx, key, BaseTime, notificationLease)
		wantCode(t, fmt.Sprintf("claim %.20q", key), err, ticketview.EINVALID)
		wantCode(t, fmt.Sprintf("done %.20q", key), s.DoneNotification(ctx, key, BaseTime), ticketview.EINVALID)
		wantCode(t, fmt.Sprintf("release %.20q", key), s.ReleaseNotification(ctx, key), ticketview.EINVALID)
	}
	for _, lease := range []time.Duration{0, -time.Second} {
		_, err := s.ClaimNotification(ctx, "k", BaseTime, lease)
		wantCode(t, fmt.Sprintf("claim with lease %s", lease), err, ticketview.EINVALID)
	}
	_, err := s.ClaimNotification(ctx, "k", time.Time{}, notificationLease)
	wantCode(t, "claim at the zero time", err, ticketview.EINVALID)
	wantCode(t, "done at the zero time", s.DoneNotification(ctx, "k", time.Time{}), ticketview.EINVALID)
	// Nothing of the refused calls was stored.
	wantClaim(t, s, "k", BaseTime, ticketview.Claimed)
}

func scheduleReminder(t *testing.T, s ticketview.NotificationStore, order, event string, due time.Time) {
	t.Helper()
	if err := s.ScheduleReminder(ctxFor(t), ticketview.Reminder{OrderID: order, Event: event, Due: due}); err != nil {
		t.Fatalf("ScheduleReminder(%s): %v", order, err)
	}
}

// dueReminderIDs is DueReminders' answer as "order@offset" from BaseTime, checking the event.
func dueReminderIDs(t *testing.T, s ticketview.NotificationStore, now time.Time, limit int, events map[string]string) []string {
	t.Helper()
	rs, err := s.DueReminders(ctxFor(t), now, limit)
	if err != nil {
		t.Fatalf("DueReminders: %v", err)
	}
	out := []string{}
	for _, r := range rs {
		if want := events[r.OrderID]; r.Event != want {
			t.Fatalf("reminder of %s: event %q, want %q", r.OrderID, r.Event, want)
		}
		out = append(out, fmt.Sprintf("%s@%s", r.OrderID, r.Due.Sub(BaseTime)))
	}
	return out
}

func wantDueReminders(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("due reminders %v, want %v", got, want)
	}
}

func testReminders(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	ev := map[string]string{"o1": "gig", "o2": "gig", "o3": "show"}
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(1000*time.Hour), 10, ev))
	scheduleReminder(t, s, "o1", "gig", BaseTime.Add(time.Hour))
	scheduleReminder(t, s, "o2", "gig", BaseTime.Add(2*time.Hour))
	scheduleReminder(t, s, "o3", "show", BaseTime.Add(3*time.Hour))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime, 10, ev))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), 10, ev), "o1@1h0m0s") // due at now is due
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(2*time.Hour+time.Minute), 10, ev), "o1@1h0m0s", "o2@2h0m0s")

	// Upsert: the order's reminder moves, it is not added twice.
	scheduleReminder(t, s, "o1", "gig", BaseTime.Add(5*time.Hour))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(10*time.Hour), 10, ev), "o2@2h0m0s", "o3@3h0m0s", "o1@5h0m0s")

	if err := s.CancelReminder(ctx, "o2"); err != nil {
		t.Fatalf("CancelReminder: %v", err)
	}
	if err := s.CancelReminder(ctx, "o2"); err != nil {
		t.Fatalf("CancelReminder of none: %v", err)
	}
	if err := s.CancelReminder(ctx, "no-such-order"); err != nil {
		t.Fatalf("CancelReminder of none: %v", err)
	}
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(10*time.Hour), 10, ev), "o3@3h0m0s", "o1@5h0m0s")
	// A cancelled reminder may be scheduled again.
	scheduleReminder(t, s, "o2", "gig", BaseTime.Add(4*time.Hour))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(10*time.Hour), 10, ev), "o3@3h0m0s", "o2@4h0m0s", "o1@5h0m0s")
	// Times are exact to the nanosecond.
	scheduleReminder(t, s, "o3", "show", BaseTime.Add(time.Nanosecond))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime, 10, ev))
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Nanosecond), 10, ev), "o3@1ns")
}

func testRescheduleReminders(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	ev := map[string]string{"a1": "gig", "a2": "gig", "b1": "show"}
	scheduleReminder(t, s, "a1", "gig", BaseTime.Add(time.Hour))
	scheduleReminder(t, s, "a2", "gig", BaseTime.Add(2*time.Hour))
	scheduleReminder(t, s, "b1", "show", BaseTime.Add(3*time.Hour))
	// The gig moves a day later: both its reminders move, the show's stays.
	if err := s.RescheduleEventReminders(ctx, "gig", BaseTime.Add(24*time.Hour)); err != nil {
		t.Fatalf("RescheduleEventReminders: %v", err)
	}
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(10*time.Hour), 10, ev), "b1@3h0m0s")
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(24*time.Hour), 10, ev), "b1@3h0m0s", "a1@24h0m0s", "a2@24h0m0s")
	if err := s.RescheduleEventReminders(ctx, "no-such-event", BaseTime); err != nil {
		t.Fatalf("RescheduleEventReminders of an event without reminders: %v", err)
	}
	// Moved earlier, they are due sooner.
	if err := s.RescheduleEventReminders(ctx, "gig", BaseTime.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime, 10, ev), "a1@-1h0m0s", "a2@-1h0m0s")
}

func testDueReminderOrder(t *testing.T, s ticketview.NotificationStore) {
	ev := map[string]string{}
	var want []string
	// Scheduled out of order; several due at the same time come by order id.
	for i := 9; i >= 0; i-- {
		id := fmt.Sprintf("o%02d", i)
		ev[id] = "gig"
		scheduleReminder(t, s, id, "gig", BaseTime.Add(time.Duration(i/2)*time.Minute))
	}
	for i := range 10 {
		want = append(want, fmt.Sprintf("o%02d@%s", i, time.Duration(i/2)*time.Minute))
	}
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), 100, ev), want...)
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), 3, ev), want[:3]...)
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Minute), 100, ev), want[:4]...)
	// A limit of 0 or less means the default, which is more than 10.
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), 0, ev), want...)
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), -1, ev), want...)
}

func testReminderValidation(t *testing.T, s ticketview.NotificationStore) {
	ctx := ctxFor(t)
	long := strings.Repeat("x", 10_000)
	for _, r := range []ticketview.Reminder{
		{Event: "gig", Due: BaseTime},
		{OrderID: "o1", Due: BaseTime},
		{OrderID: "o1", Event: "gig"},
		{OrderID: long, Event: "gig", Due: BaseTime},
		{OrderID: "o1", Event: "nul\x00", Due: BaseTime},
	} {
		wantCode(t, fmt.Sprintf("ScheduleReminder(%.20q, %.20q, %s)", r.OrderID, r.Event, r.Due), s.ScheduleReminder(ctx, r), ticketview.EINVALID)
	}
	wantCode(t, "CancelReminder(\"\")", s.CancelReminder(ctx, ""), ticketview.EINVALID)
	wantCode(t, "RescheduleEventReminders(\"\")", s.RescheduleEventReminders(ctx, "", BaseTime), ticketview.EINVALID)
	wantCode(t, "RescheduleEventReminders(zero time)", s.RescheduleEventReminders(ctx, "gig", time.Time{}), ticketview.EINVALID)
	_, err := s.DueReminders(ctx, time.Time{}, 10)
	wantCode(t, "DueReminders(zero time)", err, ticketview.EINVALID)
	wantDueReminders(t, dueReminderIDs(t, s, BaseTime.Add(time.Hour), 10, nil))
}
