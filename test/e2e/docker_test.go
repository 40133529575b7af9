package e2e_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestBuildLikeDockerfile checks the binary TestMain built with the
// Dockerfile's own go build line: static, stripped, and stamped with the
// version and commit given as build arguments.
func TestBuildLikeDockerfile(t *testing.T) {
	run, err := dockerfileBuildCommand()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-s -w`, "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/gate"} {
		if !strings.Contains(run, want) {
			t.Errorf("Dockerfile build %q lacks %q", run, want)
		}
	}

	out, err := exec.Command(gateBin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("gate version: %v\n%s", err, out)
	}
	if got, want := string(out), "gate "+stampVersion+" (commit "+stampCommit+", "+runtime.Version()+")\n"; got != want {
		t.Errorf("gate version printed %q; want %q", got, want)
	}

	f, err := elf.Open(gateBin)
	if err != nil {
		t.Skipf("not an ELF binary on %s: %v", runtime.GOOS, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a program interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table: -s did not apply")
	}
	if b, err := os.ReadFile(gateBin); err == nil && strings.Contains(string(b), repoRoot) {
		t.Errorf("binary contains the build path %s: -trimpath did not apply", repoRoot)
	}
}

// TestDockerfile checks what the image promises: a non-root distroless or
// scratch runtime, the config path, the port, a health check without a
// shell, and the OCI labels.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d FROM lines; want a build stage and a runtime stage", len(froms))
	}
	if runtimeImage := froms[len(froms)-1][1]; !strings.HasPrefix(runtimeImage, "gcr.io/distroless/static") && runtimeImage != "scratch" {
		t.Errorf("runtime image %s; want distroless static or scratch", runtimeImage)
	}
	for _, re := range []string{
		`(?m)^USER\s+(nonroot|65532)`,
		`(?m)^ENV\s+GATE_CONFIG=/config/gate\.yml$`,
		`(?m)^EXPOSE\s+9091$`,
		`(?m)^\s*CMD \["/usr/local/bin/gate", "healthcheck"\]$`,
		`(?m)^ENTRYPOINT \["/usr/local/bin/gate"\]$`,
		`(?m)^COPY --from=build /out/gate /usr/local/bin/gate$`,
		`org\.opencontainers\.image\.version="\$\{VERSION\}"`,
		`org\.opencontainers\.image\.revision="\$\{COMMIT\}"`,
	} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", re)
		}
	}
	if !strings.Contains(df, "HEALTHCHECK") {
		t.Error("Dockerfile has no HEALTHCHECK")
	}
}
