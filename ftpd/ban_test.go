package ftpd_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// The outside test's pattern over FTP: an attacker holding one valid
// account (alice) guesses another account's password (dana), logging in
// as alice after every four guesses. The good logins forget only alice's
// failures, so the address is banned at the limit all the same.
func TestGoodLoginsBetweenGuessesStillBan(t *testing.T) {
	const limit = 10
	e := newEnv(t, envOpts{maxFails: limit})
	banned := 0
	for i := 1; i <= 80 && banned == 0; i++ {
		c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			if !strings.Contains(err.Error(), "421") || !strings.Contains(err.Error(), "banned") {
				t.Fatalf("connection %d: %v", i, err)
			}
			banned = i - 1
			break
		}
		if err := c.Login("dana", fmt.Sprintf("guess-%d", i)); err == nil || !strings.Contains(err.Error(), "530") {
			t.Fatalf("guess %d: %v, want 530", i, err)
		}
		_ = c.Quit()
		if i%4 == 0 {
			good := e.dial("alice")
			if _, err := good.CurrentDir(); err != nil {
				t.Fatal(err)
			}
			_ = good.Quit()
		}
	}
	if banned != limit {
		t.Fatalf("banned after %d wrong passwords (0: not within 80), want %d", banned, limit)
	}
}
