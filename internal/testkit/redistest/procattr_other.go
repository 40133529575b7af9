//go:build !linux

package redistest

import "syscall"

// procAttr is empty where the parent's death cannot be tied to the child's.
func procAttr() *syscall.SysProcAttr {
	return nil
}
