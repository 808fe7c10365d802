package devmem_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/devmem-go/devmem/devmem"
)

// ReadFrags and Release over loopback: loopback cannot do devmem, so the
// Listener runs the copy path, with the same frags, tokens and release.
func ExampleConn_ReadFrags() {
	l, err := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(err)
		}
		c.Write([]byte("hello, device memory"))
		c.Close()
	}()

	c, err := l.AcceptDevmem()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	var got []byte
	frags, linear := make([]devmem.Frag, 0, 64), make([]byte, 64<<10)
	for {
		fs, _, err := c.ReadFrags(frags[:0], linear)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		for _, f := range fs {
			got = append(got, c.FragBytes(f, linear)...)
		}
		if err := c.Release(fs); err != nil {
			panic(err)
		}
	}
	fmt.Println(l.Mode(), string(got))
	// Output: copy hello, device memory
}

// Dial and Send: fill a region of the send buffer and send it; Flush waits
// until the kernel is done with it. Over loopback this is the copy path.
func ExampleDial() {
	l, err := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	done := make(chan string)
	go func() {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(c)
		c.Close() // before the send: the Conn holds the Listener's buffer
		done <- string(b)
	}()

	ctx := context.Background()
	c, err := devmem.Dial(ctx, "tcp", l.Addr().String(), &devmem.DialConfig{BufferSize: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	msg := "sent from a region of the buffer"
	r, err := c.Alloc(ctx, len(msg))
	if err != nil {
		panic(err)
	}
	copy(c.RegionBytes(r), msg)
	if _, err := c.Send(ctx, r, len(msg)); err != nil {
		panic(err)
	}
	if err := c.Flush(ctx); err != nil {
		panic(err)
	}
	c.CloseWrite()
	fmt.Println(c.Mode(), <-done)
	// Output: copy sent from a region of the buffer
}
