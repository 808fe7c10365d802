//go:build !race

package cmsg

const raceEnabled = false
