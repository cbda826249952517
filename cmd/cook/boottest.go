package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/vm"
)

func init() { register(newBootTestCmd) }

func newBootTestCmd(a *app) *cobra.Command {
	var f vmFlags
	var timeout time.Duration
	var expect []string
	var logPath string
	cmd := &cobra.Command{
		Use:   "boot-test",
		Short: "Boot a disk image headless and wait for boot milestones on the serial console",
		Long: `Boot a disk image headless (QEMU by default, or Cloud Hypervisor with --vm ch),
write the serial console to a log in the work directory while echoing it, and
wait for milestones in order. By default these are Redox's: the bootloader
("Redox OS Bootloader"), the kernel ("Redox OS starting"), init ("Transitioning
from initfs" or "Boot Complete") and the login prompt ("login:", "Welcome to
Redox" or "ion>"). --expect TEXT (repeatable) replaces them with your own.

When every milestone is seen the VM is stopped and cook exits 0. Otherwise -
timeout, or the VM exits first - cook names the missed milestone, shows the
log's tail and exits 1. QEMU without KVM is slow: allow minutes.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageErr(fmt.Errorf("--timeout %s: want a positive duration", timeout))
			}
			ms := vm.RedoxMilestones
			if len(expect) > 0 {
				for _, e := range expect {
					if e == "" {
						return usageErr(fmt.Errorf("--expect: empty text"))
					}
				}
				ms = vm.ExpectMilestones(expect...)
			}
			if logPath == "" {
				w, err := a.workDir()
				if err != nil {
					return usageErr(err)
				}
				logPath = filepath.Join(w, "logs", "boot-test-"+f.hv+".log")
			}
			inst, err := f.prepare(cmd.Context(), a, cmd, false)
			if err != nil {
				return err
			}
			defer inst.Close()
			var echo io.Writer = a.stdout
			if a.json || a.quiet {
				echo = nil
			}
			if !a.json {
				a.vmNotes(inst.Notes)
			}
			res, err := inst.BootTest(cmd.Context(), vm.BootTestOptions{
				Milestones: ms, Timeout: timeout, Log: logPath, Echo: echo,
			})
			if err != nil {
				return failed(err)
			}
			if a.json {
				if err := a.printJSON(res); err != nil {
					return err
				}
				if !res.Passed {
					return failed(errSilent)
				}
				return nil
			}
			if echo != nil {
				fmt.Fprintln(a.stdout) // the console may end mid-line
			}
			if !res.Passed {
				return failed(res.Error())
			}
			if !a.quiet {
				fmt.Fprintf(a.stderr, "cook: %s\n", res)
			}
			return nil
		},
	}
	f.add(cmd, string(vm.NetNone))
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "give up after this long")
	cmd.Flags().StringArrayVar(&expect, "expect", nil, "wait for TEXT on the serial console instead of Redox's milestones (repeatable, in order)")
	cmd.Flags().StringVar(&logPath, "log", "", "serial log file (default <work>/logs/boot-test-<vm>.log)")
	return cmd
}
