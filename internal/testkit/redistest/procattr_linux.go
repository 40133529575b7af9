package redistest

import "syscall"

// procAttr kills a server when the test binary dies without running its
// cleanups (a panic, a timeout, a signal), so no server outlives its tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
