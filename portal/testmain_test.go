package portal_test

import (
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// TestMain ends the run with one line naming the tests skipped for a
// missing program, if any.
func TestMain(m *testing.M) { testenv.Main(m) }
