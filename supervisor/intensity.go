package supervisor

import "time"

// addRestart records a restart at now in history and reports whether the
// supervisor may go on: false once more than intensity restarts fall within
// the last period. It prunes as it adds, so history never holds more than
// intensity+1 entries, none older than period (OTP's add_restart/3: a
// restart exactly period old still counts, Restart >= Now - Period). It is
// a pure function of its arguments; history is reused and must be in time
// order, as the restarts of one supervisor are. OTP counts in whole
// seconds; Graft uses the clock's resolution.
func addRestart(history []time.Time, now time.Time, intensity int, period time.Duration) ([]time.Time, bool) {
	// history is in time order (the clock does not go back), so the
	// restarts that fell out of the period are a prefix: dropping it costs
	// what it drops, and a long period with many restarts stays cheap.
	i := 0
	for i < len(history) && now.Sub(history[i]) > period {
		i++
	}
	kept := history[i:]
	if i > 0 && len(kept) < cap(history)/2 {
		kept = append(history[:0], kept...) // reuse the front, keep memory bounded
	}
	kept = append(kept, now)
	return kept, len(kept) <= intensity
}
