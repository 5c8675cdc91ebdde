// Package remote builds the commands that run on the far side of the SSH
// connection and reads what they print.
package remote
