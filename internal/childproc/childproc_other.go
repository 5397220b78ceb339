//go:build !linux && !windows

package childproc

import (
	"os/exec"
	"syscall"
)

func bind(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
