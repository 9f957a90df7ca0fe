package micro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// ChildEnv is set in every child's environment, so a test binary (whose
// TestMain knows it) can act as go-micro when re-run as a child.
const ChildEnv = "RTC_MICRO_CHILD"

// runChild runs this executable with args and --child and decodes the last
// line it prints into out.
func runChild(args []string, out any) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find own executable: %w", err)
	}
	cmd := exec.Command(exe, append(append([]string(nil), args...), "--child")...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child measurement failed (%v): %s", err, firstLine(stderr.String()+"\nno message"))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	if last == "" {
		return fmt.Errorf("child measurement printed nothing")
	}
	if err := json.Unmarshal([]byte(last), out); err != nil {
		return fmt.Errorf("child printed %q: %w", last, err)
	}
	return nil
}

// printChild writes one measurement as a JSON line (child side).
func printChild(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
