package main

import (
	"strings"
	"testing"
)

// Two runs of each workload for three frameworks, and of W6's variants,
// with the noise go test prints around them.
const sample = `WARNING: proto: file "actor.proto" has a name conflict over actor.PID
goos: linux
pkg: github.com/graftrt/graft/bench
BenchmarkW1/channel-2    	       1	  86136347 ns/op	        20.00 Mmsg/s
BenchmarkW1/graft-2      	       1	  86136347 ns/op	        12.00 Mmsg/s
BenchmarkW1/hollywood-2  	       1	 135085122 ns/op	        10.00 Mmsg/s
BenchmarkW1/ergo-2       	       1	 435109722 ns/op	         4.000 Mmsg/s
BenchmarkW1/channel-2    	       1	  86136347 ns/op	        22.00 Mmsg/s
BenchmarkW1/graft-2      	       1	  86136347 ns/op	         8.00 Mmsg/s
BenchmarkW1/hollywood-2  	       1	 135085122 ns/op	        14.00 Mmsg/s
BenchmarkW1/ergo-2       	       1	 435109722 ns/op	         6.000 Mmsg/s
BenchmarkW3/channel-2    	       1	  91352392 ns/op	         0.5000 p50-us	         2.000 p99-us
BenchmarkW3/graft-2      	       1	  91352392 ns/op	         1.000 p50-us	         4.000 p99-us
BenchmarkW3/hollywood-2  	       1	 326646998 ns/op	         2.000 p50-us	         8.000 p99-us
BenchmarkW3/ergo-2       	       1	 362567360 ns/op	         1.500 p50-us	        16.00 p99-us
BenchmarkW4/graft-2      	       1	2027965964 ns/op	      1000 B/actor	   1234567 actors/s	       900 heapB/actor
BenchmarkW5/channel-2    	       1	 120000000 ns/op	         0 lost	         2.000 p50-µs	        10.00 p99-µs	         0 reported	    300000 restarts/s
BenchmarkW5/graft-2      	       1	  40000000 ns/op	         0 lost	       200.0 p50-µs	      1000 p99-µs	     99800 reported	      3000 restarts/s
BenchmarkW5/ergo-2       	       1	  40000000 ns/op	     98000 lost	       100.0 p50-µs	       500.0 p99-µs	      1500 reported	      1000 restarts/s
BenchmarkW5/graft-2      	       1	  40000000 ns/op	         0 lost	       100.0 p50-µs	      3000 p99-µs	     99900 reported	      5000 restarts/s
BenchmarkW5p/channel-2   	       1	  12000000 ns/op	         0 lost	         1.000 p50-µs	        4.000 p99-µs	         0 reported	    300000 restarts/s
BenchmarkW5p/graft-2     	       1	  12000000 ns/op	         0 lost	         4.000 p50-µs	        8.000 p99-µs	         0 reported	    200000 restarts/s
BenchmarkW6/batched-2         	       1	  54304247 ns/op	    60000 msg/s	      5000 p50-us	     12000 p99-us
BenchmarkW6/unbatched-2       	       1	 170699809 ns/op	      5000 msg/s	     60000 p50-us	    130000 p99-us
BenchmarkW6/paced-25k-2       	       1	 237627308 ns/op	     24900 msg/s	       140.0 p50-us	       800.0 p99-us
BenchmarkW6/batched-2         	       1	  49262928 ns/op	    70000 msg/s	      7000 p50-us	     14000 p99-us
BenchmarkW6/unbatched-2       	       1	 154194793 ns/op	      6000 msg/s	     50000 p50-us	    110000 p99-us
BenchmarkW6/paced-25k-2       	       1	 245579247 ns/op	     24902 msg/s	        60.0 p50-us	       700.0 p99-us
BenchmarkPickup-2        	 1000000	      1043 ns/op
PASS
ok  	github.com/graftrt/graft/bench	10.614s
`

func TestParse(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(res.frameworks, ","), "channel,graft,hollywood,ergo"; got != want {
		t.Errorf("frameworks = %s, want %s (BenchmarkPickup has no framework and is skipped; W6 has variants)", got, want)
	}
	if got, want := strings.Join(res.variants, ","), "W6/batched,W6/unbatched,W6/paced-25k"; got != want {
		t.Errorf("variants = %s, want %s", got, want)
	}
	if v, _ := res.median("W6/paced-25k", metric{"W6", "p50-us"}); v != 100 {
		t.Errorf("median W6 paced-25k p50 = %v, want 100", v)
	}
	if got, want := strings.Join(res.procs, ","), "2"; got != want {
		t.Errorf("procs = %s, want %s", got, want)
	}
	if v, _ := res.median("graft", metric{"W1", "Mmsg/s"}); v != 10 {
		t.Errorf("median graft W1 = %v, want 10 (mean of the middle two of 8, 12)", v)
	}
	if v, _ := res.median("graft", metric{"W3", "p99-us"}); v != 4 {
		t.Errorf("median graft W3 p99 = %v, want 4", v)
	}
	if _, ok := res.median("hollywood", metric{"W4", "actors/s"}); ok {
		t.Error("hollywood has no W4 sample, median reported one")
	}
}

func TestRender(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	out := render(res)
	for _, want := range []string{
		"Medians over 2 runs, GOMAXPROCS=2.",
		"| channel | 21.00 | — | — | 0.50 / 2.00 | — | — | — | 300,000 | 0 | 0 | 2.0 / 10.0 | 0 | 1.0 / 4.0 |",
		"| graft | 10.00 | — | — | 1.00 / 4.00 | 1,234,567 | 1,000 | 900 | 4,000 | 0 | 99,850 | 150 / 2,000 | 0 | 4.0 / 8.0 |",
		"| ergo | 5.00 | — | — | 1.50 / 16.00 | — | — | — | 1,000 | 98,000 | 1,500 | 100 / 500 | — | — / — |",
		"| hollywood | 12.00 | — | — | 2.00 / 8.00 | — | — | — | — | — | — | — / — | — | — / — |",
		// The ratio table has no column for W5's counts (lost, reported).
		"| graft vs | W1 Mmsg/s | W1s Mmsg/s | W2 Mmsg/s | W3 p50 µs | W3 p99 µs | W4 actors/s | W4 B/actor | W4 heap B/actor | W5 restarts/s | W5 restart p50 µs | W5 restart p99 µs | W5p restart p50 µs | W5p restart p99 µs |",
		// W1: 10 / 21 vs the baseline, 10 / 12 vs hollywood; W3 p50: lower is
		// better, so 1.5 / 1 vs ergo, the best peer there; W5 restarts/s:
		// 4,000 / 300,000 vs the baseline (two significant digits below
		// 0.1), 4,000 / 1,000 vs ergo, the only peer with W5 samples; W5
		// p50: 100 / 150 vs ergo.
		"| channel | 0.48× | — | — | 0.50× | 0.50× | — | — | — | 0.013× | 0.013× | 0.005× | 0.25× | 0.50× |",
		"| best peer | 0.83× (hollywood) | — | — | 1.50× (ergo) | 2.00× (hollywood) | — | — | — | 4.00× (ergo) | 0.67× (ergo) | 0.25× (ergo) | — | — |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// W6's variants are not frameworks: they have a table of their own,
	// after the ratios.
	for _, want := range []string{
		"W6, one plugin-backed actor (graft only), medians over 2 runs, GOMAXPROCS=2.",
		"| W6 | msg/s | latency p50 / p99 µs |",
		"| batched | 65,000 | 6,000 / 13,000 |",
		"| unbatched | 5,500 | 55,000 / 120,000 |",
		"| paced-25k | 24,901 | 100 / 750 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| batched | —") {
		t.Errorf("a W6 variant appears as a framework:\n%s", out)
	}
	if strings.Index(out, "| W6 |") < strings.Index(out, "| best peer |") {
		t.Errorf("the W6 table comes before the ratios:\n%s", out)
	}
	// Rows come in the fixed order, whatever the input order.
	if strings.Index(out, "| graft |") > strings.Index(out, "| hollywood |") {
		t.Errorf("graft row after hollywood:\n%s", out)
	}
}

func TestRatioAndMicros(t *testing.T) {
	for in, want := range map[float64]string{0.0041: "0.0041×", 0.099: "0.099×", 0.1: "0.10×", 1.234: "1.23×", 12: "12.00×"} {
		if got := ratio(in); got != want {
			t.Errorf("ratio(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0.52: "0.5", 99.94: "99.9", 100: "100", 2383.4: "2,383"} {
		if got := micros(in); got != want {
			t.Errorf("micros(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -2500: "-2,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// TestRenderVariantsOnly: `go test -bench W6` alone gives the W6 table and
// no empty table of frameworks.
func TestRenderVariantsOnly(t *testing.T) {
	res, err := parse(strings.NewReader(`BenchmarkW6/batched-2   1   54304247 ns/op   60000 msg/s   5000 p50-us   12000 p99-us
BenchmarkW6/paced-25k-2   1   237627308 ns/op   24900 msg/s   140.0 p50-us   800.0 p99-us
`))
	if err != nil {
		t.Fatal(err)
	}
	out := render(res)
	want := `W6, one plugin-backed actor (graft only), medians over 1 run, GOMAXPROCS=2.

| W6 | msg/s | latency p50 / p99 µs |
|---|---:|---:|
| batched | 60,000 | 5,000 / 12,000 |
| paced-25k | 24,900 | 140 / 800 |
`
	if out != want {
		t.Errorf("render =\n%s\nwant\n%s", out, want)
	}
}
