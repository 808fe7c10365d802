package testutil_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/devmem-go/devmem/internal/testutil"
)

// A veth pair between two fresh network namespaces, addressed and up, and a
// listener in one of them. In a test, use NewNetNS(t) and NewRTNL(t, ns),
// which clean up by themselves.
func ExampleNetNS() {
	a, err := testutil.OpenNetNS()
	if err != nil {
		fmt.Println(err) // not root
		return
	}
	defer a.Close()
	b, err := testutil.OpenNetNS()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	r, err := testutil.DialRTNL(a)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	if err := r.AddVeth("va", "vb", b); err != nil {
		fmt.Println(err)
		return
	}
	idx, _ := r.LinkIndex("va")
	_ = r.AddAddr(idx, netip.MustParsePrefix("192.0.2.1/24"))
	_ = r.SetUp(idx)

	// Sockets made inside Do live in the namespace.
	var ln net.Listener
	_ = a.Do(func() (err error) {
		ln, err = net.Listen("tcp", "192.0.2.1:0")
		return err
	})
	if ln != nil {
		fmt.Println("listening in namespace a on", ln.Addr())
		ln.Close()
	}
}
