package routing

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPolicyData runs testdata/policy: glob matches, rules added in order,
// and the roles each path and operation gets.
func TestPolicyData(t *testing.T) {
	raw, err := os.ReadFile("testdata/policy")
	if err != nil {
		t.Fatal(err)
	}
	var pol Policy
	blocks := strings.Split(string(raw), "\n\n")
	for _, blk := range blocks {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(blk), "\n") {
			if !strings.HasPrefix(l, "#") && l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		if len(lines) < 3 || lines[1] != "----" {
			t.Fatalf("malformed block:\n%s", blk)
		}
		cmd, want := strings.Fields(lines[0]), strings.Join(lines[2:], "\n")
		var got string
		switch cmd[0] {
		case "match":
			got = strconv.FormatBool(MatchPath(cmd[1], cmd[2]))
		case "rule":
			prio, _ := strconv.Atoi(cmd[5])
			r := Rule{Name: cmd[1], Pattern: cmd[2], Ops: strings.Split(cmd[3], ","), Roles: strings.Split(cmd[4], ","), Priority: prio}
			if err := r.Validate(); err != nil {
				got = "error: " + err.Error()
			} else {
				pol = append(pol, r)
				got = "ok"
			}
		case "choose":
			roles, rule := pol.Choose(cmd[1], cmd[2])
			if rule == "" {
				rule = "default"
			}
			got = strings.Join(roles, ",") + " (" + rule + ")"
		default:
			t.Fatalf("unknown command %q", cmd[0])
		}
		if got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", lines[0], got, want)
		}
	}
}

// TestBreaker walks a breaker through its states on a fake clock.
func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBreaker(3, 10*time.Second, func() time.Time { return now })
	step := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	for range 2 {
		step("allow while closed", b.Allow(), true)
		b.Done(false)
	}
	step("two failures keep it closed", b.State(), Closed)
	step("allow", b.Allow(), true)
	b.Done(true)
	step("a success resets the count", b.State(), Closed)
	for range 3 {
		step("allow", b.Allow(), true)
		b.Done(false)
	}
	step("three failures in a row open it", b.State(), Open)
	step("open refuses", b.Allow(), false)
	now = now.Add(9 * time.Second)
	step("still cooling down", b.Allow(), false)
	now = now.Add(time.Second)
	step("half-open after the cool-down", b.State(), HalfOpen)
	step("exactly one probe", b.Allow(), true)
	step("no second probe", b.Allow(), false)
	b.Done(false)
	step("a failed probe opens it again", b.State(), Open)
	now = now.Add(10 * time.Second)
	step("probe again", b.Allow(), true)
	b.Done(true)
	step("a good probe closes it", b.State(), Closed)
	step("closed lets all through", b.Allow() && b.Allow(), true)
}

func TestBackoff(t *testing.T) {
	base, maxWait := 10*time.Millisecond, time.Second
	for attempt, want := range []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000} {
		want *= time.Millisecond
		lo := Backoff(attempt, base, maxWait, func() float64 { return 0 })
		hi := Backoff(attempt, base, maxWait, func() float64 { return 0.999999 })
		if lo != want/2 || hi < want*99/100 || hi > want {
			t.Errorf("attempt %d: backoff in [%v, %v], want [%v, %v]", attempt, lo, hi, want/2, want)
		}
	}
}
