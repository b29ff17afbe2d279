package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tree after each crash, exactly: who was restarted (the restart
// counts) follows from the strategies and the intensities.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	assert.Equal(t, want, out.String())
}

const want = `started:
  db       worker        permanent  restarts 0
  web      rest_for_one  permanent  restarts 0
    cache    worker        permanent  restarts 0
    handler  worker        permanent  restarts 0

handler crashes: rest_for_one restarts it alone:
  db       worker        permanent  restarts 0
  web      rest_for_one  permanent  restarts 0
    cache    worker        permanent  restarts 0
    handler  worker        permanent  restarts 1

cache crashes: rest_for_one restarts it and handler, started after it:
  db       worker        permanent  restarts 0
  web      rest_for_one  permanent  restarts 0
    cache    worker        permanent  restarts 1
    handler  worker        permanent  restarts 2

db crashes: one_for_one restarts it alone:
  db       worker        permanent  restarts 1
  web      rest_for_one  permanent  restarts 0
    cache    worker        permanent  restarts 1
    handler  worker        permanent  restarts 2

cache crashes again: web's third restart in a minute is one too many;
web stops its children and exits, and app restarts web:
  db       worker        permanent  restarts 1
  web      rest_for_one  permanent  restarts 1
    cache    worker        permanent  restarts 0
    handler  worker        permanent  restarts 0
`
