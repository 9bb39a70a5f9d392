// Command ecommerce-caller asks the e-commerce app for styling advice from Go and prints the model's
// tokens as they stream in (RunStream), then waits for the update that rewrites the shopper's lifestyle
// summary and prints it.
//
//	go run . [-target localhost:50051] [-user shopper-go] "hiking in the Bay Area"
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/motion-grpc/motion-grpc/clients/go/motion"
)

func main() {
	target := flag.String("target", cmp.Or(os.Getenv("MOTION_TARGET"), "localhost:50051"), "server host:port")
	user := flag.String("user", "shopper-go", "instance id of the shopper")
	flag.Parse()
	event := cmp.Or(strings.Join(flag.Args(), " "), "coffee with a friend")

	client, err := motion.Dial(*target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shopper := client.Instance("ECommerce", *user)

	stream, err := shopper.RunStream(ctx, "styling_query", map[string]any{"event": event})
	if err != nil {
		log.Fatal(err)
	}
	for item, err := range stream.Items() {
		if err != nil {
			log.Fatal(err)
		}
		part := item.(map[string]any) // {"prompt", "model"} first, then {"token"} items
		if prompt, ok := part["prompt"]; ok {
			fmt.Printf("--- prompt (model: %v):\n%v\n--- answer:\n", part["model"], prompt)
		} else {
			fmt.Print(part["token"])
		}
	}
	fmt.Println()
	if _, err := shopper.Flush(ctx, "styling_query"); err != nil {
		log.Fatal(err)
	}
	state, err := shopper.GetState(ctx, "query_summary")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("query_summary:", state["query_summary"])
}
