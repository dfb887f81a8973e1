package main

import (
	"testing"
	"time"
)

// The steps of a shutdown share one budget: each gets at most its own
// limit, and none ends after the budget does.
func TestShutdownStepsShareOneBudget(t *testing.T) {
	var s shutdown
	start := time.Now()
	s.begin()
	short, cancel := s.step(100 * time.Millisecond)
	defer cancel()
	if d, _ := short.Deadline(); d.Sub(start) > 150*time.Millisecond {
		t.Errorf("a 100 ms step ends %v after the start", d.Sub(start))
	}
	long, cancel := s.step(time.Hour)
	defer cancel()
	d1, _ := long.Deadline()
	if took := d1.Sub(start); took > stopBudget+50*time.Millisecond || took < stopBudget {
		t.Errorf("an hour-long step ends %v after the start, want the %v budget", took, stopBudget)
	}
	s.begin() // a later begin does not extend it
	again, cancel := s.step(time.Hour)
	defer cancel()
	if d2, _ := again.Deadline(); !d2.Equal(d1) {
		t.Error("a second begin moved the deadline")
	}

	var unstarted shutdown // a step before begin starts the budget
	c, cancel := unstarted.step(time.Hour)
	defer cancel()
	if d, _ := c.Deadline(); time.Until(d) > stopBudget {
		t.Errorf("step before begin ends in %v, want within %v", time.Until(d), stopBudget)
	}
}
