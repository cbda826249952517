package fetch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Environment variables that connect a shim to its server.
const (
	EnvShimSocket = "COOK_SHIM_SOCKET" // unix socket of the Shims server
	EnvShimRecipe = "COOK_SHIM_RECIPE" // recipe the script belongs to (for messages)
)

// ShimNames are the commands the shims stand in for.
var ShimNames = []string{"wget", "curl"}

// Shims serves the wget and curl commands a recipe script runs: a directory
// to put first on PATH, holding wget and curl links to the cook binary, and a
// unix socket on which they hand URLs to the Downloader. In network mode a
// URL goes through the mirror rules and the cache (and is refused when the
// Downloader is offline); in cache-only mode (builds) it is answered from the
// cache or refused. Every file served is recorded (Downloads).
type Shims struct {
	Root   string // a private directory holding Dir and Socket, removed by Close
	Dir    string // holds the wget and curl links; prepend it to PATH
	Socket string

	recipe    string
	parent    string
	dl        *Downloader
	cacheOnly bool
	hint      string
	log       *slog.Logger
	ln        net.Listener
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu        sync.Mutex
	downloads []Download
}

// ShimOption configures StartShims.
type ShimOption func(*Shims) error

// CacheOnly makes the shims answer from the download cache only, as builds
// (which have no network) need. hint ends the message for a URL that is not
// cached, e.g. how to opt the recipe into network builds.
func CacheOnly(hint string) ShimOption {
	return func(s *Shims) error { s.cacheOnly, s.hint = true, hint; return nil }
}

// ShimParent makes the shim directory a new directory in parent (a work
// directory's tmp, where leftovers of a killed run are cleared) when the
// socket's path fits there; otherwise the system's temporary directory is
// used.
func ShimParent(parent string) ShimOption {
	return func(s *Shims) error { s.parent = parent; return nil }
}

// StartShims starts serving the shims of recipe. Close it when the script is done.
func StartShims(ctx context.Context, dl *Downloader, recipe string, opts ...ShimOption) (*Shims, error) {
	s := &Shims{recipe: recipe, dl: dl, log: dl.Logger()}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("shims for %s: %w", recipe, err)
	}
	// A short directory: unix socket paths are limited to ~108 bytes.
	parent, prefix := "", "cook-shim-"
	if s.parent != "" && len(s.parent)+len("/shim-0123456789/sock") < 100 {
		if err := os.MkdirAll(s.parent, 0o755); err == nil {
			parent, prefix = s.parent, "shim-"
		}
	}
	tmp, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, fmt.Errorf("shims for %s: %w", recipe, err)
	}
	s.Root = tmp
	s.Dir = filepath.Join(tmp, "bin")
	s.Socket = filepath.Join(tmp, "sock")
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	for _, n := range ShimNames {
		if err := os.Symlink(exe, filepath.Join(s.Dir, n)); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("shims for %s: %w", recipe, err)
		}
	}
	s.ln, err = net.Listen("unix", s.Socket)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("shims for %s: %w", recipe, err)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Env is what a script's environment needs besides PATH.
func (s *Shims) Env() []string {
	return []string{EnvShimSocket + "=" + s.Socket, EnvShimRecipe + "=" + s.recipe}
}

// Path returns path with the shim directory first.
func (s *Shims) Path(path string) string {
	if path == "" {
		return s.Dir
	}
	return s.Dir + string(os.PathListSeparator) + path
}

// Environ returns env (KEY=VALUE pairs) with PATH and the shim variables set.
func (s *Shims) Environ(env []string) []string {
	out := make([]string, 0, len(env)+3)
	path := ""
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH":
			path = v
			continue
		case EnvShimSocket, EnvShimRecipe:
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "PATH="+s.Path(path))
	return append(out, s.Env()...)
}

// Downloads returns the files served so far, in order.
func (s *Shims) Downloads() []Download {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Download(nil), s.downloads...)
}

// Close stops the server and removes the shim directory.
func (s *Shims) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	os.RemoveAll(s.Root)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type shimRequest struct {
	Tool string `json:"tool"`
	URL  string `json:"url"`
}

type shimResponse struct {
	Size   int64  `json:"size"`
	Blake3 string `json:"blake3,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s *Shims) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

// maxShimRequest bounds a request line (a tool name and one URL): what a
// script sends on the socket is a stranger's input.
const maxShimRequest = 64 << 10

func (s *Shims) handle(c net.Conn) {
	// Close (the script is done, or cook is interrupted) hangs up on a
	// connection still open, so that a process the script left behind
	// cannot keep cook waiting.
	defer context.AfterFunc(s.ctx, func() { c.Close() })()
	var req shimRequest
	line, err := bufio.NewReader(io.LimitReader(c, maxShimRequest+1)).ReadBytes('\n')
	if len(line) > maxShimRequest {
		err = fmt.Errorf("request longer than %d bytes", maxShimRequest)
	}
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		json.NewEncoder(c).Encode(shimResponse{Error: "bad request: " + err.Error()})
		return
	}
	blob, err := s.resolve(req)
	if err != nil {
		s.log.Warn("script download refused", "recipe", s.recipe, "tool", req.Tool, "url", req.URL, "error", err)
		json.NewEncoder(c).Encode(shimResponse{Error: err.Error()})
		return
	}
	f, err := os.Open(blob.Path)
	if err != nil {
		json.NewEncoder(c).Encode(shimResponse{Error: err.Error()})
		return
	}
	defer f.Close()
	s.mu.Lock()
	s.downloads = append(s.downloads, Download{URL: req.URL, Blake3: blob.Blake3})
	s.mu.Unlock()
	s.log.Info("script download", "recipe", s.recipe, "tool", req.Tool, "url", req.URL, "blake3", blob.Blake3, "bytes", blob.Size, "cached", blob.Cached)
	if err := json.NewEncoder(c).Encode(shimResponse{Size: blob.Size, Blake3: blob.Blake3}); err != nil {
		return
	}
	io.Copy(c, f)
}

func (s *Shims) resolve(req shimRequest) (*Blob, error) {
	if s.cacheOnly {
		if b, ok := s.dl.Lookup(req.URL, ""); ok {
			return b, nil
		}
		msg := fmt.Sprintf("recipe %s: %s %s: not in the download cache, and builds have no network", s.recipe, req.Tool, req.URL)
		if s.hint != "" {
			msg += "; " + s.hint
		}
		return nil, errors.New(msg)
	}
	b, err := s.dl.Get(s.ctx, req.URL, "")
	if err != nil {
		if errors.Is(err, ErrOffline) {
			return nil, fmt.Errorf("recipe %s: %s %s refused: offline, and the URL is not in the download cache", s.recipe, req.Tool, req.URL)
		}
		return nil, fmt.Errorf("recipe %s: %s %s: %w", s.recipe, req.Tool, req.URL, err)
	}
	return b, nil
}

// shimGet asks the server at socket for rawURL and writes the content to w.
func shimGet(socket, tool, rawURL string, w io.Writer) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return fmt.Errorf("cannot reach cook's downloader: %w", err)
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(shimRequest{Tool: tool, URL: rawURL}); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("cook's downloader hung up: %w", err)
	}
	var resp shimResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return err
	}
	if resp.Error != "" {
		return serverError(resp.Error)
	}
	n, err := io.Copy(w, br)
	if err != nil {
		return err
	}
	if n != resp.Size {
		return fmt.Errorf("%s: got %d of %d bytes from cook's downloader", rawURL, n, resp.Size)
	}
	return nil
}

// serverError is a refusal or failure reported by the Shims server.
type serverError string

func (e serverError) Error() string { return string(e) }

// NetworkHint is the advice a cache-only miss ends with: how to let recipe
// use the network while it builds.
func NetworkHint(recipe string) string {
	return fmt.Sprintf(`fetch it in the source script instead, or allow network builds for this recipe with [network] allow = [%q] in cook.toml`, recipe)
}

// BuildShims starts the shims for recipe's build script: answers from dl's
// cache only, with NetworkHint in the message for a miss. dl is typically
// NewDownloader(WithCacheDir(same dir as the fetch phase), WithOffline(true)).
func BuildShims(ctx context.Context, dl *Downloader, recipe string, opts ...ShimOption) (*Shims, error) {
	return StartShims(ctx, dl, recipe, append([]ShimOption{CacheOnly(NetworkHint(recipe))}, opts...)...)
}
