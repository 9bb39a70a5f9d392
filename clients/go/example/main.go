// Command example runs a flow of examples/counter.py, waits for its update
// and prints the state (the example of clients/go/README.md).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"

	"github.com/motion-grpc/motion-grpc/clients/go/motion"
)

func main() {
	client, err := motion.Dial(cmp.Or(os.Getenv("MOTION_TARGET"), "localhost:50051"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	counter := client.Instance("Counter", "user42")
	result, err := counter.Run(ctx, "add", map[string]any{"n": 3}) // the serve op's answer, now
	if err != nil {
		log.Fatal(err)
	}
	flushed, err := counter.Flush(ctx, "") // wait for the queued update
	if err != nil {
		log.Fatal(err)
	}
	state, err := counter.GetState(ctx)
	fmt.Println(result, flushed.Version, state, err)
}
