package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fileMarker precedes a README code block that must equal a file.
const fileMarker = "<!-- file: "

// TestReadmeConfigBlocks checks that each README code block marked
// "<!-- file: PATH -->" is PATH byte for byte, so that what the README
// shows is what the tests run. Every shipped proxy configuration must be
// shown.
func TestReadmeConfigBlocks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	shown := map[string]bool{}
	for i, line := range lines {
		path, ok := strings.CutPrefix(line, fileMarker)
		if !ok {
			continue
		}
		path = strings.TrimSpace(strings.TrimSuffix(path, "-->"))
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Errorf("README line %d: %s is not followed by a code block", i+1, line)
			continue
		}
		var block strings.Builder
		end := -1
		for j := i + 2; j < len(lines); j++ {
			if lines[j] == "```" {
				end = j
				break
			}
			block.WriteString(lines[j] + "\n")
		}
		if end < 0 {
			t.Errorf("README line %d: the code block for %s does not end", i+1, path)
			continue
		}
		want, err := os.ReadFile(filepath.Join(repoRoot, path))
		if err != nil {
			t.Errorf("README line %d: %v", i+1, err)
			continue
		}
		if got := block.String(); got != string(want) {
			t.Errorf("README line %d: the block differs from %s at its line %d: copy the file into the README",
				i+1, path, firstDiffLine(got, string(want)))
		}
		shown[path] = true
	}
	for _, path := range []string{
		"configs/nginx/gate.conf",
		"configs/caddy/Caddyfile",
		"configs/traefik/dynamic.yml",
		"configs/traefik/traefik.yml",
		"configs/haproxy/haproxy.cfg",
	} {
		if !shown[path] {
			t.Errorf("README shows no block of %s", path)
		}
	}
}

// firstDiffLine is the 1-based number of the first line where a and b differ.
func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}
