package main

import (
	"os"
	"strings"
	"testing"
)

// The README shows this program verbatim, so the embedding example users copy always compiles.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	program := string(src[strings.Index(string(src), "package main"):])
	if !strings.Contains(string(readme), "```go\n"+program+"```\n") {
		t.Fatal("README.md's embedding example differs from examples/embed/main.go: paste the file from `package main` on")
	}
}
