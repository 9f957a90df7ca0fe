// Command go-micro runs the Go side of the runtime microbenchmarks (spawn,
// pingpong, channels, blocking-burst, starve, lifo-wake); see package micro.
package main

import (
	"os"

	"rtcompare/internal/micro"
)

func main() {
	os.Exit(micro.Main(os.Args[1:], os.Stdout, os.Stderr))
}
