// Command redline is Redline's one binary: see `redline --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redline-dev/redline/cmd/redline/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Execute(ctx, os.Args[1:], app.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
