package cmsg_test

import (
	"errors"
	"fmt"

	"github.com/devmem-go/devmem/cmsg"
)

// received stands in for the control buffer of one recvmsg(MSG_SOCK_DEVMEM)
// call, oob[:oobn]: 66 header bytes copied into the data buffer, then two
// payload frags left in the dma-buf of binding 3.
func received() []byte {
	oob := cmsg.AppendLinear(nil, 66)
	oob = cmsg.AppendDMABuf(oob, cmsg.Frag{Offset: 0, Size: 4096, Token: 1, DMABufID: 3})
	return cmsg.AppendDMABuf(oob, cmsg.Frag{Offset: 8192, Size: 1382, Token: 2, DMABufID: 3})
}

func ExampleParse() {
	const dmabufSize = 1 << 20
	// Size the control buffer for up to 64 frags per recvmsg; reuse frags
	// across calls so that parsing does not allocate.
	oob := make([]byte, cmsg.Space(64))
	frags := make([]cmsg.Frag, 0, 64)

	oobn := copy(oob, received()) // recvmsg fills oob and returns oobn
	frags, err := cmsg.Parse(frags[:0], oob[:oobn])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range frags {
		if f.Kind == cmsg.DMABuf {
			if err := f.CheckBounds(dmabufSize); err != nil {
				fmt.Println(err)
				return
			}
		}
		fmt.Printf("%+v\n", f)
	}
	// Output:
	// {Offset:0 Size:66 Token:0 DMABufID:0 Kind:linear}
	// {Offset:0 Size:4096 Token:1 DMABufID:3 Kind:dmabuf}
	// {Offset:8192 Size:1382 Token:2 DMABufID:3 Kind:dmabuf}
}

func ExampleParse_malformed() {
	oob := received()
	frags, err := cmsg.Parse(nil, oob[:len(oob)-4]) // the last message is cut
	var pe *cmsg.ParseError
	if errors.As(err, &pe) {
		fmt.Println("frags before the bad message:", len(frags))
		fmt.Println("bad message starts at frag index:", pe.Offset/cmsg.FragSpace)
	}
	// Output:
	// frags before the bad message: 2
	// bad message starts at frag index: 2
}

func ExampleAll() {
	var payload uint32
	for f, err := range cmsg.All(received()) {
		if err != nil {
			fmt.Println(err)
			return
		}
		if f.Kind == cmsg.DMABuf {
			payload += f.Size
		}
	}
	fmt.Println("bytes in device memory:", payload)
	// Output:
	// bytes in device memory: 5478
}

func ExampleAppendTX() {
	// The control buffer of a devmem sendmsg(MSG_ZEROCOPY): one message
	// naming TX binding 7. The iovecs would hold dma-buf offsets.
	oob := cmsg.AppendTX(make([]byte, 0, cmsg.TXSpace), 7)
	fmt.Println(len(oob) == cmsg.TXSpace)

	id, err := cmsg.ParseTX(oob)
	fmt.Println(id, err)
	// Output:
	// true
	// 7 <nil>
}

func ExampleParseCompletion() {
	// What recvmsg(MSG_ERRQUEUE) on an IPv6 socket returns after sends
	// 0xfffffffe through 1 completed (the counter wrapped).
	oob := cmsg.AppendCompletion(nil, cmsg.Completion{Lo: 0xfffffffe, Hi: 1}, true)

	c, err := cmsg.ParseCompletion(oob)
	switch {
	case errors.Is(err, cmsg.ErrNoCompletion):
		fmt.Println("no completion")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println(c.Len(), c.Contains(0xffffffff), c.Contains(0), c.Contains(2))
	// Output:
	// 4 true true false
}
