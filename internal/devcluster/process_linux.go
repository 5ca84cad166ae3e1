package devcluster

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// childProcAttr puts a child in a process group of its own (so that Stop
// reaches whatever it starts) and has the kernel kill it if Redline dies
// without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childPIDs lists the live child processes of this process, from /proc.
func childPIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(pid); ok && ppid == self {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// parentPID reads a process's parent from /proc/<pid>/stat; a zombie
// counts as gone.
func parentPID(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// Running reports whether process pid exists and is not a zombie.
func Running(pid int) bool {
	_, ok := parentPID(pid)
	return ok
}
