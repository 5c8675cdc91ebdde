//go:build race

package fakecodex

const raceEnabled = true
