// Package floor holds the benchmarks of the physical floors the
// measurements of bench/ are compared with: what moving a byte through
// memory costs (memmove, in cache and from DRAM), and what the cheapest
// system call costs. Nothing the library does per byte can beat the first,
// nor per call the second.
//
//	go test -run '^$' -bench . -count 6 ./bench/floor
package floor
