package mailbox_test

import (
	"fmt"

	"github.com/graftrt/graft/mailbox"
)

func Example() {
	var m mailbox.Mailbox // zero value: unbounded and idle
	schedule, _, _ := m.PushUser("hello")
	fmt.Println("start the owner:", schedule)
	_, _ = m.PushSystem("exit-signal")

	for {
		msg, lane, ok := m.Next()
		if !ok {
			break // idle: the owner stops until a push schedules it again
		}
		fmt.Println(lane == mailbox.System, msg)
	}
	// Output:
	// start the owner: true
	// true exit-signal
	// false hello
}

func Example_dropOldest() {
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: 2, Overflow: mailbox.DropOldest})
	for i := 1; i <= 3; i++ {
		_, evicted, _ := m.PushUser(i)
		if evicted != nil {
			fmt.Println("dead letter:", evicted)
		}
	}
	// Output:
	// dead letter: 1
}

// A signal that may become a user message carries its mark: a process
// trapping exits turns the exit signal into a message that takes the
// signal's place among the user messages, after what its sender sent
// before it and before what it sent after.
func ExampleMailbox_PushSystemMarked() {
	type exit struct {
		from string
		at   mailbox.Mark
	}
	var m mailbox.Mailbox
	_, _, _ = m.PushUser("before")
	sig := &exit{from: "child"}
	_, _ = m.PushSystemMarked(sig, &sig.at)
	_, _, _ = m.PushUser("after")

	for {
		msg, lane, ok := m.Next()
		if !ok {
			break
		}
		if s, isExit := msg.(*exit); isExit && lane == mailbox.System {
			m.InsertUser("exit from "+s.from, s.at) // trapped
			continue
		}
		fmt.Println(msg)
	}
	// Output:
	// before
	// exit from child
	// after
}
