package mcp

import (
	"errors"
	"fmt"
)

// Protocol versions across a federation.
//
// The client-facing version is the one the client asked for when the gateway speaks it, else
// LatestProtocolVersion; the gateway implements every version's wire rules itself (transports,
// batches at 2025-03-26, the MCP-Protocol-Version header). Each target is initialized with that
// version and keeps the version it answers; the gateway talks to it in that version (its header,
// its transport), so one old target does not pull the client, or the other targets, down.
//
// A target may answer an older version than the client's: MCP's versions add features, and what
// an older target sends is valid in the newer versions. Features it lacks are simply not offered:
// capabilities are merged from the targets that declare them, and a request that only a newer
// target understands reaches only that target (tasks/* go to the task's owner; a task-augmented
// tools/call to a target without tasks is answered by it as a plain call, as the spec lets a
// receiver without task support do). A target that answers a version newer than the client's, or
// one the gateway does not speak, is refused at initialize (as a client would disconnect), and the
// federation's failure mode decides whether the session goes on without it.
//
// 2026-07-28 (sessionless, no initialize) is not offered: a federation is built around sessions.

// ErrProtocolVersion is returned (wrapped) for a target that answered initialize with a protocol
// version the session cannot use.
var ErrProtocolVersion = errors.New("mcp: unusable protocol version")

// checkTargetVersion checks the version a target answered against the session's version.
func checkTargetVersion(target, session string) error {
	switch {
	case !supportedVersion(target):
		return fmt.Errorf("%w: target answered %q (supported: %v)", ErrProtocolVersion, target, supportedVersions)
	case session != "" && target > session:
		return fmt.Errorf("%w: target answered %s, newer than the session's %s", ErrProtocolVersion, target, session)
	}
	return nil
}
