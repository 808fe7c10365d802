// Package syscount counts the system calls a program makes, by name, by
// tracing it with ptrace: a small "strace -c -f" for machines without
// strace or perf (the test VMs). It follows every thread and child
// (PTRACE_O_TRACECLONE, FORK, VFORK) and counts each system call once, at
// its entry.
//
// Tracing stops the program twice per system call, so it runs far slower:
// use it for counting runs only, never for the runs that are timed. The
// counts do not depend on the slowdown as long as the program's work is
// fixed (a given number of bytes received), except for calls that poll or
// wait (epoll_pwait, futex, nanosleep, EAGAIN returns), which a slower
// program makes more or fewer of; report those apart.
//
// Linux on amd64 and arm64 only; elsewhere Run returns an error.
package syscount
