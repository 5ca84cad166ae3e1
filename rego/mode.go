package rego

import (
	"fmt"
	"strings"
)

// Mode says what the decision does with connections that turn red.
type Mode string

const (
	// ModeOff: no messages.
	ModeOff Mode = "off"
	// ModeWarn: the request is allowed with one warning per red connection.
	ModeWarn Mode = "warn"
	// ModeEnforce: the request is denied, with the same messages.
	ModeEnforce Mode = "enforce"
)

// ModeLabel is the namespace label that chooses the mode for the namespace; it
// beats the global setting.
const ModeLabel = "redline.io/mode"

// ParseMode accepts "off", "warn" and "enforce"; the empty string is ModeWarn.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeOff, ModeWarn, ModeEnforce:
		return m, nil
	case "":
		return ModeWarn, nil
	default:
		return "", fmt.Errorf("mode %q is not one of off, warn, enforce", s)
	}
}

// ResolveMode picks the mode for a namespace: its redline.io/mode label when
// valid, else global. An invalid label value yields global and a warning for
// people (put it in Input.ModeWarning), naming the namespace, the value and
// the fix.
func ResolveMode(namespace string, labels map[string]string, global Mode) (mode Mode, warning string) {
	if global == "" {
		global = ModeWarn
	}
	value, ok := labels[ModeLabel]
	if !ok {
		return global, ""
	}
	switch m := Mode(strings.TrimSpace(value)); m {
	case ModeOff, ModeWarn, ModeEnforce:
		return m, ""
	}
	return global, fmt.Sprintf("namespace %s: label %s=%q is not one of off, warn, enforce: using the global mode %q (fix with kubectl label ns %s %s=warn --overwrite)",
		namespace, ModeLabel, value, global, namespace, ModeLabel)
}
