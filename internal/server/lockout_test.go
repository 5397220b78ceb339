package server_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
)

// Attacks on email sign-in by someone who knows an address but not its
// mailbox, from one network or several (an independent review's): none
// may keep the owner from signing in, or add guesses.

func clientFrom(e *env, ip string) *nioapi.Client {
	hc := e.httpClient()
	hc.Transport = forwardedFor{hc.Transport, []string{ip}}
	return nioapi.NewClient(e.url, hc)
}

func linkToken(t *testing.T, link string) string {
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func lockoutEnv(t *testing.T) *env {
	return newEnv(t, envOptions{config: func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} }})
}

// Starts a limit refused count nothing: one network asking again and
// again, hour after hour, does not use up the address's mails for all
// networks (seen: the owner refused for hours, after five mails).
func TestEmailStart_OneNetworksRefusedStartsLeaveTheOwnerItsMails(t *testing.T) {
	e := lockoutEnv(t)
	ctx := context.Background()
	const addr = "owner@example.com"
	attacker, owner := clientFrom(e, "203.0.113.66"), clientFrom(e, "198.51.100.7")
	sent := 0
	for hour := range 3 {
		for range 21 {
			if _, err := attacker.EmailStart(ctx, addr); err == nil {
				sent++
				e.mail(addr)
			} else if errCode(err) != server.CodeRateLimited {
				t.Fatal(err)
			}
		}
		e.advance(11 * time.Minute) // the attacker's mails have expired
		if _, err := owner.EmailStart(ctx, addr); err != nil {
			t.Fatalf("hour %d: the owner, on another network, gets no sign-in mail after one network's %d starts (%d sent): %v", hour+1, 21*(hour+1), sent, err)
		}
		e.mail(addr)
		e.advance(time.Hour)
	}
}

// A guess of the other kind than the flow's code (XXXXX-XXXXX at a
// six-digit flow) cannot be right: it is refused without spending one of
// the flow's attempts, so it neither escapes the address's limits nor
// kills the flow's link (seen: from four networks, 100 such guesses over
// 20 flows killed every link the owner had, uncounted).
func TestEmailCode_GuessesOfTheOtherKindSpendNothing(t *testing.T) {
	e := lockoutEnv(t)
	ctx := context.Background()
	const addr = "owner@example.com"
	var links []string
	tally := map[string]int{}
	for n := range 4 {
		a := clientFrom(e, fmt.Sprintf("203.0.113.%d", n+1))
		var flows []string
		for range 5 {
			st, err := a.EmailStart(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			code, link := e.mail(addr)
			if len(code) != 6 {
				t.Fatalf("want six-digit flows, got a code of %d characters", len(code))
			}
			flows, links = append(flows, st.FlowID), append(links, link)
		}
		for _, f := range flows {
			for range 5 {
				_, err := a.EmailVerify(ctx, f, "00000-00000", true)
				tally[errCode(err)]++
			}
		}
	}
	if tally[server.CodeInvalidRequest] != 100 {
		t.Fatalf("100 long guesses at six-digit flows: %v, want every one refused %s", tally, server.CodeInvalidRequest)
	}
	owner := clientFrom(e, "198.51.100.7")
	for i, l := range links {
		if _, err := owner.LinkConfirm(ctx, linkToken(t, l), true); err != nil {
			t.Fatalf("link %d of %d after the guesses: %v", i+1, len(links), err)
		}
	}
}

// The owner's six-digit flow, started before someone spends the
// address's six-digit guesses, is refused then; the answer says to ask
// for a new mail, whose long code signs in.
func TestEmailCode_AnOwnerCaughtByGuessingIsToldToAskAgainAndGetsIn(t *testing.T) {
	e := lockoutEnv(t)
	ctx := context.Background()
	const addr = "owner@example.com"
	attacker, owner := clientFrom(e, "203.0.113.66"), clientFrom(e, "198.51.100.7")
	ost, err := owner.EmailStart(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	ocode, _ := e.mail(addr)
	var flows []string
	for range 2 {
		st, err := attacker.EmailStart(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		e.mail(addr)
		flows = append(flows, st.FlowID)
	}
	for i := range 10 {
		attacker.EmailVerify(ctx, flows[i/5], "000000", true)
	}
	_, err = owner.EmailVerify(ctx, ost.FlowID, ocode, true)
	if errCode(err) != server.CodeRateLimited || !strings.Contains(err.Error(), "ask for a new sign-in mail") {
		t.Fatalf("the owner's six-digit code after the attacker's ten guesses: %v, want rate_limited saying to ask for a new mail", err)
	}
	st, err := owner.EmailStart(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := e.mail(addr)
	if _, err := owner.EmailVerify(ctx, st.FlowID, code, true); err != nil || len(code) == 6 {
		t.Fatalf("the owner's new code (%d characters): %v, want a long code that signs in", len(code), err)
	}
}
