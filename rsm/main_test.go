package rsm_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		ringtest.Cleanup()
		os.Exit(code)
	}))
}
