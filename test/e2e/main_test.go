package e2e_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The version and commit stamped into the test binary, as the Dockerfile's
// build arguments would.
const (
	stampVersion = "1.2.3-e2e"
	stampCommit  = "0123456789abcdef"
)

var (
	// repoRoot is the repository's top folder.
	repoRoot string
	// gateBin is the gate binary, built once by TestMain with the
	// Dockerfile's own build command.
	gateBin string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "gate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gateBin = filepath.Join(dir, "gate")
	if out, err := buildLikeDockerfile(gateBin, stampVersion, stampCommit); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build gate as the Dockerfile does: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// dockerfileBuildCommand returns the shell command of the Dockerfile's RUN
// instruction that runs go build, continuation lines joined.
func dockerfileBuildCommand() (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		return "", err
	}
	var joined []string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(rest)
			continue
		}
		cur.WriteString(line)
		joined = append(joined, cur.String())
		cur.Reset()
	}
	for _, ins := range joined {
		if run, ok := strings.CutPrefix(ins, "RUN "); ok && strings.Contains(run, "go build") {
			return strings.Join(strings.Fields(run), " "), nil
		}
	}
	return "", errors.New("Dockerfile: no RUN instruction runs go build")
}

// dockerfileOutput is where the Dockerfile's build stage writes the binary.
const dockerfileOutput = " -o /out/gate "

// buildLikeDockerfile runs the Dockerfile's go build command from the
// repository root, with VERSION and COMMIT set as the build arguments would
// set them, writing the binary to out.
func buildLikeDockerfile(out, version, commit string) ([]byte, error) {
	run, err := dockerfileBuildCommand()
	if err != nil {
		return nil, err
	}
	if !strings.Contains(run, dockerfileOutput) {
		return nil, fmt.Errorf("Dockerfile build command %q does not write%s", run, dockerfileOutput)
	}
	run = strings.Replace(run, dockerfileOutput, ` -o "$GATE_E2E_OUT" `, 1)
	cmd := exec.Command("sh", "-c", run)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "VERSION="+version, "COMMIT="+commit, "GATE_E2E_OUT="+out)
	return cmd.CombinedOutput()
}
