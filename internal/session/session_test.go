package session_test

import (
	"testing"
	"time"

	"gate/internal/session"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDeadline(t *testing.T) {
	tests := []struct {
		name string
		s    session.Session
		want time.Time
	}{
		{
			name: "inactivity_first",
			s:    session.Session{LastActivity: t0, ExpiresAt: t0.Add(time.Hour), Inactivity: 5 * time.Minute},
			want: t0.Add(5 * time.Minute),
		},
		{
			name: "absolute_first",
			s:    session.Session{LastActivity: t0.Add(58 * time.Minute), ExpiresAt: t0.Add(time.Hour), Inactivity: 5 * time.Minute},
			want: t0.Add(time.Hour),
		},
		{
			name: "no_inactivity_limit",
			s:    session.Session{LastActivity: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)},
			want: t0.Add(30 * 24 * time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Deadline(); !got.Equal(tt.want) {
				t.Errorf("Deadline() = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	s := session.Session{LastActivity: t0, ExpiresAt: t0.Add(time.Hour), Inactivity: 5 * time.Minute}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just_before_idle_deadline", t0.Add(5*time.Minute - time.Nanosecond), false},
		{"at_idle_deadline", t0.Add(5 * time.Minute), true},
		{"after", t0.Add(2 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Expired(tt.now); got != tt.want {
				t.Errorf("Expired(%v) = %v; want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestNeedsTouch(t *testing.T) {
	tests := []struct {
		name       string
		inactivity time.Duration
		since      time.Duration
		want       bool
	}{
		{"long_limit_capped_at_10s", time.Hour, 10 * time.Second, false},
		{"long_limit_after_10s", time.Hour, 10*time.Second + time.Millisecond, true},
		{"short_limit_quarter", 20 * time.Second, 5 * time.Second, false},
		{"short_limit_after_quarter", 20 * time.Second, 5*time.Second + time.Millisecond, true},
		{"no_limit", 0, 24 * time.Hour, false},
		{"clock_behind_written_activity", time.Hour, -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session.Session{LastActivity: t0, ExpiresAt: t0.Add(48 * time.Hour), Inactivity: tt.inactivity}
			if got := s.NeedsTouch(t0.Add(tt.since)); got != tt.want {
				t.Errorf("NeedsTouch(+%v) = %v; want %v", tt.since, got, tt.want)
			}
		})
	}
}
