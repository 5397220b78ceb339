// Package childproc starts helper processes that must not outlive their
// parent: the dev enclave under secretd dev, and secretd under niomon dev.
package childproc

import "os/exec"

// Bind puts cmd in its own process group (a terminal's Ctrl-C reaches
// only the parent, which stops its children in order) and, where the
// system can, has the kernel signal it with SIGTERM when the parent dies,
// even by SIGKILL (Linux: PR_SET_PDEATHSIG). Elsewhere a parent killed
// outright leaves the child running.
func Bind(cmd *exec.Cmd) { bind(cmd) }
