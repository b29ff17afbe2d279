package supervisor

import "time"

// addRestart records a restart at now in history and reports whether the
// supervisor may go on: false once more than intensity restarts fall within
// the last period. It prunes as it adds, so history never holds more than
// intensity+1 entries, none older than period (OTP's add_restart/3: a
// restart exactly period old still counts, Restart >= Now - Period). It is
// a pure function of its arguments; history is reused. OTP counts in whole
// seconds; Graft uses the clock's resolution.
func addRestart(history []time.Time, now time.Time, intensity int, period time.Duration) ([]time.Time, bool) {
	kept := history[:0]
	for _, t := range history {
		if now.Sub(t) <= period {
			kept = append(kept, t)
		}
	}
	kept = append(kept, now)
	return kept, len(kept) <= intensity
}
