package bench

import "time"

// The baseline: an actor is a goroutine reading a buffered channel of any,
// which is what a Go programmer writes without a framework. Its address is
// the channel. It has no supervision, no names and no upgrade, so it bounds
// from above what a framework can reach on this machine.
func channelFramework() Framework {
	return Framework{
		Name:     "channel",
		FanIn:    channelFanIn,
		PingPong: channelPingPong,
		Call:     channelCall,
		Spawn:    channelSpawn,
		Restart:  channelRestart,
	}
}

func channelFanIn(r *Run, n int, shape FanInShape) error {
	inbox := make(chan any, channelInboxSize)
	done := newLatch(1)
	go func() {
		count := 0
		for range inbox {
			count++
			if count == n {
				done.arrive()
			}
		}
	}()
	defer close(inbox)

	r.Begin()
	if shape == FanInStructs {
		for i := range n {
			inbox <- fanInMsg{Seq: uint64(i), From: 1, Kind: 2}
		}
	} else {
		for i := range n {
			inbox <- i
		}
	}
	err := done.wait("fan-in")
	r.End()
	return err
}

func channelPingPong(r *Run, pairs, perPair int) error {
	done := newLatch(pairs)
	inboxes := make([]chan any, 2*pairs)
	for i := range inboxes {
		inboxes[i] = make(chan any, channelInboxSize)
	}
	for _, inbox := range inboxes {
		go func() {
			for m := range inbox {
				b := m.(ball[chan any])
				if b.left == 1 {
					done.arrive()
					continue
				}
				b.from <- ball[chan any]{left: b.left - 1, from: inbox}
			}
		}()
	}
	defer func() {
		for _, inbox := range inboxes {
			close(inbox)
		}
	}()

	r.Begin()
	for p := range pairs {
		a, b := inboxes[2*p], inboxes[2*p+1]
		b <- ball[chan any]{left: perPair, from: a}
	}
	err := done.wait("ping-pong")
	r.End()
	return err
}

// channelRequest is a call: the reply channel is made per call, as a caller
// that may time out and leave cannot share one with the next call.
type channelRequest struct {
	body  any
	reply chan any
}

func channelCall(r *Run, n int) error {
	inbox := make(chan any, channelInboxSize)
	go func() {
		for m := range inbox {
			req := m.(channelRequest)
			req.reply <- req.body
		}
	}()
	defer close(inbox)

	r.Begin()
	for i := range n {
		start := time.Now()
		reply := make(chan any, 1)
		inbox <- channelRequest{body: i, reply: reply}
		<-reply
		r.Record(time.Since(start))
	}
	r.End()
	return nil
}

func channelSpawn(r *Run, n int) error {
	handled, stopped := newLatch(n), newLatch(n)
	inboxes := make([]chan any, n)

	r.Begin()
	for i := range inboxes {
		inbox := make(chan any, channelInboxSize)
		inboxes[i] = inbox
		go func() {
			defer stopped.arrive()
			for range inbox {
				handled.arrive()
			}
		}()
	}
	for i, inbox := range inboxes {
		inbox <- i
	}
	err := handled.wait("spawn: handled")
	if err == nil {
		r.Idle()
	}
	for _, inbox := range inboxes {
		close(inbox)
	}
	if err == nil {
		err = stopped.wait("spawn: stopped")
	}
	r.End()
	return err
}

// channelRestart is W5 for the baseline: the worker is a goroutine reading
// the inbox, and a supervising goroutine starts a new one each time the
// last one panicked (seen through recover). The inbox is the worker's
// address and outlives every incarnation, so messages sent to a dead worker
// are not lost: they wait in the channel for the next goroutine (and the
// sender blocks while it is full). That is also why the baseline needs no
// names. It has no restart limit.
func channelRestart(r *Run, n int) error {
	p := newRestartProbe(n)
	inbox := make(chan any, channelInboxSize)
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		for {
			crashed := make(chan bool, 1)
			go func() {
				w := p.incarnate()
				defer func() { crashed <- recover() != nil }()
				for m := range inbox {
					w.handle(m)
				}
			}()
			if !<-crashed {
				return // the inbox was closed: the run is over
			}
		}
	}()
	defer func() {
		close(inbox)
		<-supervised
	}()
	return p.drive(r, func(msg any) error {
		inbox <- msg
		return nil
	})
}
