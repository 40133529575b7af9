package benchprofile

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
)

// Environment variables the harness sets for the processes it profiles. They
// do not start with GATE_ because gate reads those as configuration keys.
const (
	EnvDir  = "GATEBENCH_PROFILE_DIR"
	EnvName = "GATEBENCH_PROFILE_NAME"
)

// FromEnv starts profiling when EnvDir is set and returns the function that
// writes the profiles; without it, both are no-ops.
func FromEnv() (stop func()) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return func() {}
	}
	name := filepath.Join(dir, filepath.Base(os.Getenv(EnvName)))
	runtime.SetMutexProfileFraction(100)

	var mu sync.Mutex
	var cpu *os.File
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		mu.Lock()
		defer mu.Unlock()
		f, err := os.Create(name + ".cpu.pprof")
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		cpu = f
	}()
	return func() {
		signal.Stop(usr1)
		mu.Lock()
		defer mu.Unlock()
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		runtime.GC()
		for _, p := range []string{"heap", "allocs", "mutex"} {
			f, err := os.Create(name + "." + p + ".pprof")
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				continue
			}
			_ = pprof.Lookup(p).WriteTo(f, 0)
			f.Close()
		}
	}
}
