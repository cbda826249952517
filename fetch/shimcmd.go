package fetch

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// IsShim reports whether argv0 names a shim and a shim server is reachable
// through the environment: the test for a binary to call ShimMain.
func IsShim(argv0 string) bool {
	base := filepath.Base(argv0)
	return (base == "wget" || base == "curl") && os.Getenv(EnvShimSocket) != ""
}

// ShimMain runs cook's wget or curl (by the base name of args[0]) and returns
// its exit status. It understands the option forms upstream recipes use and
// hands every URL to the fetcher's server named by COOK_SHIM_SOCKET. An
// option it does not understand is an error naming the recipe: it never
// falls back to a network call of its own.
func ShimMain(args []string, stdout, stderr io.Writer) int {
	tool := filepath.Base(args[0])
	recipe := os.Getenv(EnvShimRecipe)
	socket := os.Getenv(EnvShimSocket)
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "cook %s (recipe %s): %s\n", tool, recipe, fmt.Sprintf(format, a...))
		return code
	}
	if socket == "" {
		return fail(2, "%s is unset: this command only works inside a cook recipe script", EnvShimSocket)
	}
	var jobs []shimJob
	var err error
	switch tool {
	case "wget":
		jobs, err = parseWget(args[1:])
	case "curl":
		jobs, err = parseCurl(args[1:])
	default:
		return fail(2, "unknown shim %q", tool)
	}
	if err != nil {
		return fail(2, "%v", err)
	}
	status := 0
	opened := map[string]*os.File{}
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, j := range jobs {
		if j.err != nil {
			status = fail(1, "%v", j.err)
			continue
		}
		var w io.Writer = stdout
		if j.out != "-" {
			f := opened[j.out]
			if f == nil {
				f, err = os.Create(j.out)
				if err != nil {
					status = fail(1, "%s: %v", j.url, err)
					continue
				}
				opened[j.out] = f
			}
			w = f
		}
		if err := shimGet(socket, tool, j.url, w); err != nil {
			var se serverError
			if errors.As(err, &se) { // the server's messages name the recipe and the URL
				fmt.Fprintf(stderr, "cook %s: %v\n", tool, err)
				status = 1
			} else {
				status = fail(1, "%s: %v", j.url, err)
			}
			if j.out != "-" && tool == "curl" {
				// curl leaves no output file for a failed transfer with -f; be strict.
				opened[j.out].Close()
				delete(opened, j.out)
				os.Remove(j.out)
			}
			continue
		}
	}
	return status
}

type shimJob struct {
	url string
	out string // "-" for stdout
	err error  // an argument that is not a URL (reported, as wget does, after the others)
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "ftp") && u.Host != ""
}

// remoteName is the file name wget -O-less and curl -O use: the last path
// segment of the URL, without the query.
func remoteName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "index.html"
	}
	p := u.Path
	if p == "" || strings.HasSuffix(p, "/") {
		return "index.html"
	}
	name := path.Base(p)
	if un, err := url.PathUnescape(name); err == nil {
		name = un
	}
	return name
}

// parseWget understands: URLs; -O FILE, -OFILE, --output-document[=]FILE
// (all URLs into FILE, "-" for stdout); -q/--quiet, -nv/--no-verbose,
// -v/--verbose, --show-progress, --progress=TYPE, -c/--continue (cook always
// downloads whole files), and clusters of the short flags (-qO FILE, -qc).
func parseWget(args []string) ([]shimJob, error) {
	var urls []string
	out := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func(opt string) (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs an argument", opt)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "--":
			urls = append(urls, args[i+1:]...)
			i = len(args)
		case a == "--output-document" || a == "-O":
			v, err := value(a)
			if err != nil {
				return nil, err
			}
			out = v
		case strings.HasPrefix(a, "--output-document="):
			out = strings.TrimPrefix(a, "--output-document=")
		case a == "--quiet" || a == "--no-verbose" || a == "-nv" || a == "--verbose" ||
			a == "--show-progress" || a == "--continue" || strings.HasPrefix(a, "--progress="):
		case strings.HasPrefix(a, "--"):
			return nil, fmt.Errorf("unknown option %s (cook's wget understands -O FILE, --output-document, -q, -nv, -v, -c, --show-progress, --progress=)", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for k := 1; k < len(a); k++ {
				switch a[k] {
				case 'q', 'v', 'c':
				case 'O':
					if k+1 < len(a) {
						out = a[k+1:]
					} else {
						v, err := value("-O")
						if err != nil {
							return nil, err
						}
						out = v
					}
					k = len(a)
				default:
					return nil, fmt.Errorf("unknown option -%c in %s (cook's wget understands -O FILE, --output-document, -q, -nv, -v, -c, --show-progress, --progress=)", a[k], a)
				}
			}
		default:
			urls = append(urls, a)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("missing URL")
	}
	var jobs []shimJob
	taken := map[string]bool{}
	for _, u := range urls {
		if !isURL(u) {
			jobs = append(jobs, shimJob{url: u, err: fmt.Errorf("%s: Scheme missing (not an http, https or ftp URL)", u)})
			continue
		}
		o := out
		if o == "" {
			o = uniqueName(remoteName(u), taken)
		}
		jobs = append(jobs, shimJob{url: u, out: o})
	}
	return jobs, nil
}

// uniqueName is wget's rule for an existing file: name, name.1, name.2, …
func uniqueName(name string, taken map[string]bool) string {
	n := name
	for i := 1; ; i++ {
		if _, err := os.Lstat(n); err != nil && !taken[n] {
			taken[n] = true
			return n
		}
		n = fmt.Sprintf("%s.%d", name, i)
	}
}

// parseCurl understands: URLs; -o FILE / --output FILE and -O /
// --remote-name, paired with URLs in order as curl pairs them (no output
// option: stdout); -L/--location, -s/--silent, -S/--show-error, -f/--fail,
// -v/--verbose, -J/--remote-header-name, -z/--time-cond VALUE (accepted; cook
// serves the cached or a fresh copy either way), clusters such as -vJL, -OL,
// -sS, -fsSLo FILE.
func parseCurl(args []string) ([]shimJob, error) {
	var urls, outs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func(opt string) (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs an argument", opt)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "--output":
			v, err := value(a)
			if err != nil {
				return nil, err
			}
			outs = append(outs, v)
		case strings.HasPrefix(a, "--output="):
			outs = append(outs, strings.TrimPrefix(a, "--output="))
		case a == "--remote-name":
			outs = append(outs, "")
		case a == "--time-cond":
			if _, err := value(a); err != nil {
				return nil, err
			}
		case a == "--location" || a == "--silent" || a == "--show-error" || a == "--fail" ||
			a == "--verbose" || a == "--remote-header-name":
		case strings.HasPrefix(a, "--"):
			return nil, fmt.Errorf("unknown option %s (cook's curl understands -o FILE, -O, -L, -s, -S, -f, -v, -J, -z, and their long forms)", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for k := 1; k < len(a); k++ {
				switch a[k] {
				case 'L', 's', 'S', 'f', 'v', 'J':
				case 'O':
					outs = append(outs, "")
				case 'o', 'z':
					var v string
					if k+1 < len(a) {
						v = a[k+1:]
					} else {
						var err error
						if v, err = value("-" + string(a[k])); err != nil {
							return nil, err
						}
					}
					if a[k] == 'o' {
						outs = append(outs, v)
					}
					k = len(a)
				default:
					return nil, fmt.Errorf("unknown option -%c in %s (cook's curl understands -o FILE, -O, -L, -s, -S, -f, -v, -J, -z, and their long forms)", a[k], a)
				}
			}
		default:
			urls = append(urls, a)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("no URL specified")
	}
	var jobs []shimJob
	for i, u := range urls {
		if !isURL(u) {
			jobs = append(jobs, shimJob{url: u, err: fmt.Errorf("%s: not an http, https or ftp URL", u)})
			continue
		}
		o := "-"
		if i < len(outs) {
			o = outs[i]
			if o == "" {
				o = remoteName(u)
			}
		}
		jobs = append(jobs, shimJob{url: u, out: o})
	}
	return jobs, nil
}
