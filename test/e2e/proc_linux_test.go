package e2e_test

import "syscall"

// sysProcAttr puts a started program in its own process group, so that its
// children (nginx's workers) can be stopped with it, and kills it if the
// test binary dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the process group of a program this test started.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
