package sshtest

import (
	"net"
	"sync"
)

// conn is an accepted TCP connection that can turn into a dead link: once blackhole is closed,
// reads and writes block until the connection is closed, as if every packet were lost. Nothing
// is reset and nothing is answered, which is what a client sees when a VPS vanishes.
type conn struct {
	net.Conn
	blackhole <-chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newConn(c net.Conn, blackhole <-chan struct{}) *conn {
	return &conn{Conn: c, blackhole: blackhole, closed: make(chan struct{})}
}

func (c *conn) dead() bool {
	select {
	case <-c.blackhole:
		return true
	default:
		return false
	}
}

func (c *conn) Read(p []byte) (int, error) {
	if !c.dead() {
		n, err := c.Conn.Read(p)
		if !c.dead() {
			return n, err
		}
		// What arrived as the link died is lost with the rest.
	}
	<-c.closed
	return 0, net.ErrClosed
}

func (c *conn) Write(p []byte) (int, error) {
	if !c.dead() {
		return c.Conn.Write(p)
	}
	<-c.closed
	return 0, net.ErrClosed
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}
