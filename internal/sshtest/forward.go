package sshtest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// directTCPIPMsg is the payload of a "direct-tcpip" channel open, RFC 4254 section 7.2.
type directTCPIPMsg struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// handleDirectTCPIP connects a "direct-tcpip" channel to its target. Like sshd, it confirms the
// channel only once the connection is made, and rejects it with "connect failed" otherwise.
func (s *Server) handleDirectTCPIP(nc ssh.NewChannel) {
	var m directTCPIPMsg
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil || m.Port > 65535 {
		nc.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	addr := net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port)))
	tc, err := s.cfg.Dial(s.ctx, "tcp", addr)
	if err != nil {
		s.logf("sshtest: direct-tcpip to %s from %s:%d: %v", addr, m.OriginHost, m.OriginPort, err)
		nc.Reject(ssh.ConnectionFailed, connectError(err))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		tc.Close()
		return
	}
	s.logf("sshtest: direct-tcpip to %s from %s:%d", addr, m.OriginHost, m.OriginPort)

	reqsDone := make(chan struct{})
	go func() {
		defer close(reqsDone)
		// The channel's requests end when it is closed, by the client or with the connection:
		// then the TCP side goes too, even if it is idle.
		ssh.DiscardRequests(reqs)
		tc.Close()
	}()
	var copies sync.WaitGroup
	copies.Add(2)
	go func() {
		defer copies.Done()
		io.Copy(tc, ch)
		// The client's EOF becomes a TCP half-close, as sshd's shutdown(SHUT_WR).
		if cw, ok := tc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			tc.Close()
		}
	}()
	go func() {
		defer copies.Done()
		io.Copy(ch, tc)
		// The target's EOF becomes the channel's EOF; the other direction may go on.
		ch.CloseWrite()
	}()
	copies.Wait()
	ch.Close()
	<-reqsDone
}

// connectError is the reason sshd gives when a forward's connect fails: strerror(errno).
func connectError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := []rune(errno.Error())
		if len(msg) > 0 {
			msg[0] = unicode.ToUpper(msg[0])
		}
		return string(msg)
	}
	return err.Error()
}
