# Unit tests for admission.rego, run by `go test ./rego/` (TestRegoUnitTests)
# or `opa test rego/`.
package redline.admission_test

import data.redline.admission

frontend_to_cart := {
	"src": {"namespace": "shop", "kind": "Deployment", "name": "frontend", "text": "shop/frontend[Deployment]"},
	"dst": {"namespace": "shop", "kind": "Deployment", "name": "cart", "text": "shop/cart[Deployment]"},
	"protocol": "TCP",
	"port": 7070,
	"portText": "TCP/7070",
	"count": 1234,
	"countText": "1.2k",
	"lastSeen": "2026-05-01T10:00:00Z",
	"lastSeenText": "2h ago",
	"explanation": "ingress at shop/cart allows only shop/checkout",
}

cart_to_redis := {
	"src": {"namespace": "shop", "kind": "Deployment", "name": "cart", "text": "shop/cart[Deployment]"},
	"dst": {"namespace": "shop", "kind": "StatefulSet", "name": "redis", "text": "shop/redis[StatefulSet]"},
	"protocol": "TCP",
	"port": 6379,
	"portText": "TCP/6379",
	"count": 1,
	"countText": "1",
	"lastSeen": "2026-05-01T11:59:00Z",
	"lastSeenText": "1m ago",
}

frontend_to_cart_line := "would block shop/frontend[Deployment] -> shop/cart[Deployment] TCP/7070 (last seen 2h ago, 1.2k connections)"

cart_to_redis_line := "would block shop/cart[Deployment] -> shop/redis[StatefulSet] TCP/6379 (last seen 1m ago, 1 connection)"

request(mode, impact) := {
	"request": {"uid": "u1", "operation": "UPDATE", "userInfo": {"username": "alice"}, "dryRun": false},
	"namespace": {"name": "shop", "labels": {"redline.io/mode": mode}},
	"mode": mode,
	"impact": impact,
}

two_red := {"turnsRed": [frontend_to_cart, cart_to_redis], "turnsRedTotal": 2, "turnsGreenTotal": 0, "staysRedTotal": 0}

test_warn_mode_warns_each_red_connection if {
	admission.warn == {frontend_to_cart_line, cart_to_redis_line} with input as request("warn", two_red)
	count(admission.deny) == 0 with input as request("warn", two_red)
}

test_enforce_mode_denies_each_red_connection if {
	admission.deny == {frontend_to_cart_line, cart_to_redis_line} with input as request("enforce", two_red)
	count(admission.warn) == 0 with input as request("enforce", two_red)
}

test_off_mode_says_nothing if {
	count(admission.deny) == 0 with input as request("off", two_red)
	count(admission.warn) == 0 with input as request("off", two_red)
}

test_and_k_more_when_list_is_capped if {
	impact := object.union(two_red, {"turnsRedTotal": 27})
	admission.deny == {frontend_to_cart_line, cart_to_redis_line, "and 25 more"} with input as request("enforce", impact)
	admission.warn == {frontend_to_cart_line, cart_to_redis_line, "and 25 more"} with input as request("warn", impact)
}

test_no_and_k_more_when_all_listed if {
	every msg in admission.warn {
		not startswith(msg, "and ")
	} with input as request("warn", two_red)
}

test_unknown_impact_warns_and_never_blocks if {
	impact := {"turnsRed": [], "turnsRedTotal": 0, "unknown": true, "unknownReason": "no flows observed for namespace shop yet"}
	admission.warn == {"impact unknown (no flows observed for namespace shop yet): allowed"} with input as request("enforce", impact)
	count(admission.deny) == 0 with input as request("enforce", impact)
	admission.warn == {"impact unknown (no flows observed for namespace shop yet): allowed"} with input as request("warn", impact)
	count(admission.warn) == 0 with input as request("off", impact)
}

test_unknown_impact_without_reason if {
	impact := {"turnsRed": [], "turnsRedTotal": 0, "unknown": true}
	admission.warn == {"impact unknown: allowed"} with input as request("enforce", impact)
}

test_unknown_impact_reports_listed_connections_as_warnings if {
	impact := object.union(two_red, {"unknown": true, "unknownReason": "store unavailable"})
	count(admission.deny) == 0 with input as request("enforce", impact)
	admission.warn == {
		frontend_to_cart_line, cart_to_redis_line,
		"impact unknown (store unavailable): allowed",
	} with input as request("enforce", impact)
}

test_incomplete_impact_warns_and_allows if {
	impact := object.union(two_red, {"turnsRedTotal": 40, "incomplete": true})
	count(admission.deny) == 0 with input as request("enforce", impact)
	admission.warn == {
		frontend_to_cart_line, cart_to_redis_line, "and 38 more",
		"impact not computed in time: allowed",
	} with input as request("enforce", impact)
	count(admission.warn) == 0 with input as request("off", impact)
}

test_harmless_change_says_nothing if {
	impact := {"turnsRed": [], "turnsRedTotal": 0, "turnsGreenTotal": 3, "staysRedTotal": 1}
	count(admission.deny) == 0 with input as request("enforce", impact)
	count(admission.warn) == 0 with input as request("enforce", impact)
	count(admission.warn) == 0 with input as request("warn", impact)
}

test_delete_that_turns_nothing_red_says_nothing if {
	impact := {"turnsRed": [], "turnsRedTotal": 0, "turnsGreenTotal": 12}
	inp := json.patch(request("enforce", impact), [{"op": "replace", "path": "/request/operation", "value": "DELETE"}])
	count(admission.deny) == 0 with input as inp
	count(admission.warn) == 0 with input as inp
}

test_protocol_without_port if {
	icmp := object.union(frontend_to_cart, {"protocol": "ICMP", "port": 0, "portText": "ICMP"})
	impact := {"turnsRed": [icmp], "turnsRedTotal": 1}
	admission.warn == {"would block shop/frontend[Deployment] -> shop/cart[Deployment] ICMP (last seen 2h ago, 1.2k connections)"} with input as request("warn", impact)
}

test_invalid_mode_label_is_reported_in_every_mode if {
	msg := `namespace shop: label redline.io/mode="block" is not one of off, warn, enforce: using the global mode "off"`
	inp := object.union(request("off", two_red), {"modeWarning": msg})
	admission.warn == {msg} with input as inp
	count(admission.deny) == 0 with input as inp
}
