// Package app wires Redline's subcommands. Each subcommand is an options
// struct with AddFlags, Validate and Run, the shape kubectl uses.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Version is set at build time with -ldflags.
var Version = "dev"

// NewRootCommand builds the command tree.
func NewRootCommand(streams IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "redline",
		Short: "Redline shows which live connections a NetworkPolicy would cut",
		Long: `Redline records the traffic that really flows in a cluster, suggests
least-privilege NetworkPolicies from it, and warns (or blocks) at admission
time when a policy change would cut live connections.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(NewAnalyzeCommand(streams), NewIngestCommand(streams), NewTrafficCommand(streams), NewServeCommand(streams), NewWhatIfCommand(streams), NewSuggestCommand(streams))
	root.AddCommand(NewDevCommand(streams))
	return root
}

// Execute runs the command line and returns the process exit status.
func Execute(ctx context.Context, args []string, streams IO) int {
	root := NewRootCommand(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
		var ue usageError
		switch {
		case errors.As(err, &ue):
			return 2
		case errors.Is(err, ErrTurnsRed):
			return 3
		}
		return 1
	}
	return 0
}

// cliLogger keeps one-shot commands quiet: warnings and errors only.
func cliLogger(streams IO) *slog.Logger {
	return slog.New(slog.NewTextHandler(streams.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// usageError marks a bad command line (exit status 2, as flag errors).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// usageArgs marks argument-count errors as usage errors (exit status 2),
// like flag errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
