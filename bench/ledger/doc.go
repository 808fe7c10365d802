// Package ledger benchmarks pagepool.Ledger's record+release path the way a
// devmem stream uses it, through the public API (pagepool.NewLedgerFunc, with
// a release function that frees every token it is given, as the kernel's
// SO_DEVMEM_DONTNEED does), for bench/README.md section 2.
//
// Tokens: the kernel hands out the lowest free token of the socket
// (xa_alloc on sk_user_frags), so a stream's tokens stay below the number of
// frags it holds: here they cycle through a ring of tokens=N. With a
// 1024-frag batch up to 2047 frags wait for a whole SO_DEVMEM_DONTNEED call
// and 16 are in the application's hands, so N=4096 is what a stream's token
// table looks like; N=32768 makes the table bigger than the L2 cache (the
// pagepool package's own benchmark), the worst case of a socket that once
// held 32768 frags.
//
// Run it with
//
//	go test -run '^$' -bench . -count 6 ./bench/ledger
package ledger
