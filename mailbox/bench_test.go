package mailbox_test

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/graftrt/graft/mailbox"
)

// BenchmarkMailbox measures one producer feeding one owner that is started
// on demand, against a buffered channel with a dedicated receiver.
func BenchmarkMailbox(b *testing.B) {
	b.Run("unbounded", func(b *testing.B) { benchMailbox(b, mailbox.Options{}) })
	// Bounded like the channel (1024): a full mailbox makes the producer
	// yield and retry, which is the back-pressure a channel gives.
	b.Run("bounded", func(b *testing.B) { benchMailbox(b, mailbox.Options{Capacity: 1024}) })
	b.Run("channel", func(b *testing.B) {
		ch := make(chan any, 1024)
		done := make(chan struct{})
		go func() {
			for range ch {
			}
			close(done)
		}()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ch <- i & 0xff
		}
		close(ch)
		<-done
	})
}

func benchMailbox(b *testing.B, o mailbox.Options) {
	var (
		m    mailbox.Mailbox
		runs sync.WaitGroup
	)
	m.Configure(o)
	run := func() {
		defer runs.Done()
		for {
			if _, _, ok := m.Next(); !ok {
				return
			}
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sched, _, err := m.PushUser(i & 0xff) // small ints box without allocating
		for errors.Is(err, mailbox.ErrFull) {
			runtime.Gosched()
			sched, _, err = m.PushUser(i & 0xff)
		}
		if err != nil {
			b.Fatal(err)
		}
		if sched {
			runs.Add(1)
			go run()
		}
	}
	runs.Wait()
}
