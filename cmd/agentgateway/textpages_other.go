//go:build !linux

package main

// dropStartupPages is Linux-only: elsewhere the start-up pages stay with the process.
func dropStartupPages() (uint64, error) { return 0, nil }
