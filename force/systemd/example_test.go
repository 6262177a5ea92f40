package systemd_test

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/force/systemd"
)

func ExampleWrap() {
	line, err := systemd.Wrap("/usr/local/bin/mptcpkit", "-/usr/bin/redis-server /etc/redis/redis.conf")
	if err != nil {
		panic(err)
	}
	fmt.Println("ExecStart=" + line)
	// Output: ExecStart=-/usr/local/bin/mptcpkit run -- /usr/bin/redis-server /etc/redis/redis.conf
}
