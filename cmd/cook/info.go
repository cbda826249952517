package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newInfoCmd) }

type infoState struct {
	Source    string `json:"source"`
	Build     string `json:"build"`
	Stage     string `json:"stage"`
	Sysroot   string `json:"sysroot"`
	Toolchain string `json:"toolchain"`
	Package   string `json:"package"`
	Log       string `json:"log"`
}

type infoReport struct {
	*cookbook.Recipe
	Target      string    `json:"target"`
	Diagnostics []string  `json:"diagnostics,omitempty"`
	State       infoState `json:"state"`
}

func newInfoCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "info RECIPE",
		Short: "Show the resolved recipe and where its state lives",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, ns, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			r := tree.Recipes[ns[0].Name]
			root, err := a.workDir()
			if err != nil {
				return err
			}
			w := workdir.New(root)
			target := a.target
			if ns[0].Host {
				target = string(triple.Host())
			}
			rep := infoReport{Recipe: r, Target: target, State: infoState{
				Source: w.Source(r.Name), Build: w.Build(r.Name, target), Stage: w.Stage(r.Name, target, ""),
				Sysroot: w.Sysroot(r.Name, target), Toolchain: w.Toolchain(r.Name, target),
				Package: w.Pkgar(r.Name, target, ""), Log: w.Log(r.Name, target),
			}}
			for _, d := range r.Diagnostics {
				rep.Diagnostics = append(rep.Diagnostics, d.String())
			}
			if a.json {
				return a.printJSON(rep)
			}
			a.printInfo(rep)
			return nil
		},
	}
}

func (a *app) printInfo(rep infoReport) {
	r := rep.Recipe
	kv := func(k, v string) {
		if v != "" {
			a.printf("%-18s %s\n", k+":", cookbook.Escape(v))
		}
	}
	list := func(k string, v []string) {
		if len(v) > 0 {
			kv(k, strings.Join(v, " "))
		}
	}
	names := func(ps []cookbook.PackageName) []string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return s
	}
	kv("recipe", r.Name)
	kv("file", r.Path)
	kv("target", rep.Target)
	if s := r.Source; s != nil {
		kv("source", string(s.Kind))
		kv("  same_as", s.SameAs)
		kv("  path", s.Path)
		kv("  git", s.Git)
		kv("  upstream", s.Upstream)
		kv("  branch", s.Branch)
		kv("  rev", s.Rev)
		if s.ShallowClone {
			kv("  shallow_clone", "true")
		}
		kv("  tar", s.Tar)
		kv("  blake3", s.Blake3)
		list("  patches", s.Patches)
		if s.Script != "" {
			kv("  script", fmt.Sprintf("%d line(s)", strings.Count(strings.TrimRight(s.Script, "\n"), "\n")+1))
		}
	} else {
		kv("source", "none (uses whatever is in source/)")
	}
	b := r.Build
	kv("template", string(b.Template))
	list("dependencies", names(b.Dependencies))
	list("dev-dependencies", names(b.DevDependencies))
	kv("cargopath", b.CargoPath)
	list("cargoflags", b.CargoFlags)
	list("cargopackages", b.CargoPackages)
	list("cargoexamples", b.CargoExamples)
	list("configureflags", b.ConfigureFlags)
	list("cmakeflags", b.CMakeFlags)
	list("mesonflags", b.MesonFlags)
	kv("pyprojectpath", b.PyProjectPath)
	list("pipflags", b.PipFlags)
	if b.Script != "" {
		kv("script", fmt.Sprintf("%d line(s); see cook print-script %s", strings.Count(strings.TrimRight(b.Script, "\n"), "\n")+1, r.Name))
	}
	list("package deps", names(r.Package.Dependencies))
	kv("version", r.Package.Version)
	kv("description", r.Package.Description)
	for _, o := range r.OptionalPackages {
		kv("optional package", fmt.Sprintf("%s.%s: files %s; dependencies %s", r.Name, o.Name, strings.Join(o.Files, " "), strings.Join(names(o.Dependencies), " ")))
	}
	for _, d := range rep.Diagnostics {
		a.printf("%s\n", d)
	}
	a.printf("state:\n")
	st := rep.State
	for _, p := range [][2]string{{"source", st.Source}, {"build", st.Build}, {"stage", st.Stage}, {"sysroot", st.Sysroot},
		{"toolchain", st.Toolchain}, {"package", st.Package}, {"log", st.Log}} {
		a.printf("  %-10s %s\n", p[0], p[1])
	}
}
