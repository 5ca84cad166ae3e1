//go:build unix && !linux

package devcluster

import "syscall"

// childProcAttr puts a child in a process group of its own, so that Stop
// reaches whatever it starts.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// childPIDs is only implemented on Linux: PIDs then lists the controller
// manager alone.
func childPIDs() []int { return nil }

// Running reports whether process pid exists.
func Running(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
