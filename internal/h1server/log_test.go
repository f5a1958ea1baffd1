package h1server

import (
	"io"
	"log"
)

var discardLog = log.New(io.Discard, "", 0)
