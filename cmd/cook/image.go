package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/image"
	"github.com/redox-cook/cook/internal/live"
	"github.com/redox-cook/cook/pipeline"
)

func init() { register(newImageCmd) }

type imageFlags struct {
	config   string
	output   string
	chStatic bool
	net      string
	ip       string
	gateway  string
	dns      string
	efi      string
	bios     string
	size     uint32
	live     bool
}

func newImageCmd(a *app) *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "image [--config NAME|FILE] [-o FILE]",
		Short: "Assemble a bootable disk image from a filesystem config and built packages",
		Long: `Assemble a bootable disk image (harddrive.img) the way upstream's installer does,
without FUSE or root: the filesystem config's files, its packages from the work
directory's repository (<work>/repo/<target>) with their runtime dependencies,
users and groups, written as a GPT disk with a BIOS boot partition, an EFI system
partition holding EFI/BOOT/BOOTX64.EFI and a RedoxFS partition from 2 MiB.

--config names a filesystem config: a file (a path, or a name ending in .toml),
or a name looked up as <arch>/NAME.toml then NAME.toml in the upstream tree's
config/ (--cookbook), else among cook's own configs (minimal, cloud-hypervisor).
Here --config is the filesystem config; cook's settings file comes from
COOK_CONFIG or cook.toml.

Networking is baked in, with no manual step at boot:
  --net dhcp     DHCP, as the config has it
  --net static   the address from --ip/--gateway/--dns instead of DHCP
  --net auto     DHCP, falling back to the static address when no lease comes
  --net none     no network stack
  --ch-static    --net static with Cloud Hypervisor's TAP defaults
                 (172.16.0.2/24, gateway 172.16.0.1, DNS 1.1.1.1; see cook net setup)

The image is reproducible: the same config, packages, bootloaders and
SOURCE_DATE_EPOCH give the same bytes. See docs/images.md.`,
		Args: minArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("unexpected argument %q (the config is --config NAME|FILE)", args[0]))
			}
			return a.runImage(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "minimal", "filesystem config: NAME (looked up in the --cookbook tree's config/, else cook's own) or FILE")
	fl.StringVarP(&f.output, "output", "o", "", "image file to write (default <work>/images/harddrive.img)")
	fl.BoolVar(&f.chStatic, "ch-static", false, "static network for Cloud Hypervisor's TAP: --net static --ip 172.16.0.2/24 --gateway 172.16.0.1 --dns 1.1.1.1")
	fl.StringVar(&f.net, "net", "", "network at boot: auto, dhcp, static or none (default: as the config has it, which is DHCP upstream)")
	fl.StringVar(&f.ip, "ip", "", "static address with prefix length, like 172.16.0.2/24 (--net static|auto)")
	fl.StringVar(&f.gateway, "gateway", "", "default gateway, like 172.16.0.1 (--net static|auto)")
	fl.StringVar(&f.dns, "dns", "", "DNS server, like 1.1.1.1 (--net static|auto)")
	fl.StringVar(&f.efi, "bootloader-efi", "", "EFI bootloader file (default: the bootloader package's /usr/lib/boot/bootloader.efi)")
	fl.StringVar(&f.bios, "bootloader-bios", "", "BIOS bootloader file (default: the bootloader package's /usr/lib/boot/bootloader.bios)")
	fl.Uint32Var(&f.size, "size", 0, "image size in MiB (default: the config's filesystem_size)")
	fl.BoolVar(&f.live, "live", false, "live variant: the bootloader package's bootloader-live.* files")
	return cmd
}

// network turns the network flags into an image.Network.
func (f *imageFlags) network() (image.Network, error) {
	return image.NetworkSpec{Mode: f.net, CloudHypervisor: f.chStatic, Address: f.ip, Gateway: f.gateway, DNS: f.dns}.Parse()
}

func (a *app) runImage(cmd *cobra.Command, f *imageFlags) error {
	ctx := cmd.Context()
	netw, err := f.network()
	if err != nil {
		return usageErr(err)
	}
	cfg, err := image.FindConfig(f.config, a.triple, a.cookbook)
	if err != nil {
		return usageErr(fmt.Errorf("--config: %w", err))
	}
	w, unlock, err := a.writeWork(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	out := f.output
	if out == "" {
		out = filepath.Join(w.Images(), "harddrive.img")
	}
	opts := []image.Option{image.WithNetwork(netw)}
	if cmd.Flags().Changed("live") {
		opts = append(opts, image.WithLive(f.live))
	}
	if f.size != 0 {
		opts = append(opts, image.WithSize(f.size))
	}
	if f.efi != "" {
		opts = append(opts, image.WithBootloaderEFI(f.efi))
	}
	if f.bios != "" {
		opts = append(opts, image.WithBootloaderBIOS(f.bios))
	}
	if live.IsTerminal(a.stderr) && !a.quiet && !a.json {
		opts = append(opts, image.WithProgress(func(p image.Progress) {
			switch {
			case p.Stage == "done":
				fmt.Fprint(a.stderr, "\r\033[K")
			case p.Total > 0:
				fmt.Fprintf(a.stderr, "\r\033[Kimage: %s %d/%d", p.Stage, p.Done, p.Total)
			default:
				fmt.Fprintf(a.stderr, "\r\033[Kimage: %s", p.Stage)
			}
		}))
	}
	res, err := a.pipeline(nil, w).Image(ctx, cfg, out, opts...)
	if err != nil {
		var ce *image.ConfigError
		switch {
		case errors.As(err, &ce):
			return usageErr(err)
		case errors.Is(err, pipeline.ErrNothingBuilt):
			return failed(err)
		}
		return failed(fmt.Errorf("image %s: %w", cfg.Name, err))
	}
	for _, wmsg := range res.Warnings {
		a.log.Warn(wmsg)
	}
	if a.json {
		return a.printJSON(res)
	}
	a.printf("%s: %d MiB, config %s (%s), %d packages, RedoxFS %s at %d MiB (%d MiB used), network %s\n",
		res.Path, res.Size>>20, res.Config, cfg.Path, len(res.Packages), res.UUID, res.FSOffset>>20, (res.UsedBytes+1<<20-1)>>20, res.Network)
	return nil
}
