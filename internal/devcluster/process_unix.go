//go:build unix

package devcluster

import "syscall"

// killGroup signals the process group a child leads.
func killGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}
