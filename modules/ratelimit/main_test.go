package ratelimit

import (
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
