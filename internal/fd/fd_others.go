//go:build !unix

package fd

func closeRaw(int) error { return errNotSupported }

func dupRaw(int) (int, error) { return -1, errNotSupported }
