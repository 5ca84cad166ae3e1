package devcluster

import "slices"

// newPIDs returns the pids in after that are not in before.
func newPIDs(before, after []int) []int {
	var out []int
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}
