package motion_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's example is example/main.go, verbatim, and runs.
func TestReadmeExampleRuns(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	ok(t, err)
	example, err := os.ReadFile("../example/main.go")
	ok(t, err)
	if !strings.Contains(string(readme), string(example)) {
		t.Fatal("README.md does not show example/main.go as it is")
	}
	if os.Getenv("MOTION_TARGET") == "" {
		t.Skip("MOTION_TARGET is not set")
	}
	out, err := exec.Command("go", "run", "../example").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "map[count:") {
		t.Fatalf("go run ../example: %v\n%s", err, out)
	}
}
