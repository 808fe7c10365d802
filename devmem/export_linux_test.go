package devmem

// SetCtrlInitial sets the initial control-buffer size of connections
// accepted from now on, and returns a function that restores it.
func SetCtrlInitial(n int) (restore func()) {
	old := ctrlInitial
	ctrlInitial = n
	return func() { ctrlInitial = old }
}
