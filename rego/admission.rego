# Default Redline admission decision for NetworkPolicy changes.
#
# The input document is described in rego/README.md. The Go side has already
# computed the impact (the connections that turn red) and pre-formatted the
# human pieces (endpoint text, "TCP/7070", "2h ago", "1.2k"), so these rules
# only choose which messages to emit and where:
#
#   deny: the request is rejected with these messages (mode "enforce").
#   warn: the request is allowed; kubectl prints each message as a warning.
#
# Unknown or incomplete impact never blocks: in "enforce" it is reported as a
# warning and the request is allowed.
package redline.admission

# deny: one message per listed red connection, plus "and K more", when the
# mode is "enforce" and the impact is fully known.
deny contains msg if {
	blocking
	some msg in red_lines
}

# warn: the same messages when they are reported but do not block ("warn", or
# "enforce" with unknown or incomplete impact).
warn contains msg if {
	reporting
	not blocking
	some msg in red_lines
}

warn contains unknown_message if {
	reporting
	input.impact.unknown
}

warn contains "impact not computed in time: allowed" if {
	reporting
	input.impact.incomplete
}

# An invalid redline.io/mode label is reported in every mode, "off" included:
# the namespace did not ask for silence, the global setting applied instead.
warn contains input.modeWarning if input.modeWarning != ""

# reporting: the mode asks for messages at all ("off" asks for none).
reporting if input.mode in {"warn", "enforce"}

# blocking: messages become denials.
blocking if {
	input.mode == "enforce"
	not input.impact.unknown
	not input.impact.incomplete
}

# red_lines: one line per listed connection that turns red, plus a summary of
# the ones the Go side left out of the list. Example line:
# would block shop/frontend[Deployment] -> shop/cart[Deployment] TCP/7070 (last seen 2h ago, 1.2k connections)
red_lines contains msg if {
	some c in input.impact.turnsRed
	msg := sprintf("would block %s -> %s %s (last seen %s, %s %s)", [
		c.src.text, c.dst.text, c.portText,
		c.lastSeenText, c.countText, object.get(connection_noun, c.count, "connections"),
	])
}

red_lines contains sprintf("and %d more", [more]) if {
	more := input.impact.turnsRedTotal - count(input.impact.turnsRed)
	more > 0
}

# connection_noun: "1 connection", otherwise "connections".
connection_noun := {1: "connection"}

unknown_message := sprintf("impact unknown (%s): allowed", [input.impact.unknownReason]) if {
	input.impact.unknownReason != ""
} else := "impact unknown: allowed"
