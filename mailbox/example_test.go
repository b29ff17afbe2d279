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
