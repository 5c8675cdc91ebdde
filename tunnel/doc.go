// Package tunnel connects to an SSH server the way OpenSSH would — through
// any number of jump hosts, honouring ssh_config, the agent and known_hosts —
// and carries local TCP connections to the far end over that one connection.
//
// # Resolving
//
// [Resolve] turns a destination and command-line options into a [Route]: the
// jump hosts and the destination, each an [Endpoint] with its own settings
// read from ssh_config.
//
// # Connecting
//
// [Dialer.Connect] opens one TCP connection to the first hop and runs an SSH
// handshake per hop through it. The resulting [Conn] serves every session and
// every forwarded connection of a run.
package tunnel
