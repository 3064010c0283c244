package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

//go:embed assets
var embedded embed.FS

// Prefix is the URL path the console is served under.
const Prefix = "/ui/"

// contentTypes maps the extensions the console uses to their types; any
// other file is served as bytes. The table is ours, not the host's
// mime.types, so a page's type never depends on the machine.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

// csp lets a page load and call only its own origin: no CDN, no font or
// image from elsewhere, no inline script.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// Assets returns the embedded console files (index.html at the root).
func Assets() fs.FS {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// Handler serves the console under Prefix: from dir when it is set (an
// operator's own copy, Consul's ui_dir), else from the embedded files.
// A path naming no file is a 404; Prefix itself is index.html.
func Handler(dir string) (http.Handler, error) {
	files := Assets()
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("ui: directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("ui: %s is not a directory", dir)
		}
		files = os.DirFS(dir)
	}
	h := &handler{files: files}
	if dir == "" {
		// Embedded files never change: hash them once.
		h.etags = map[string]string{}
		err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(files, name)
			h.etags[name] = etagOf(data)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("ui: embedded assets: %w", err)
		}
	}
	return h, nil
}

type handler struct {
	files fs.FS
	// etags of the embedded files; nil when serving a directory, which is
	// read (and hashed) on every request.
	etags map[string]string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	if !fs.ValidPath(name) || path.Clean(name) != name {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isDirErr(h.files, name) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "read "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("Referrer-Policy", "no-referrer")
	// Revalidate every time: an upgraded agent serves new files at the
	// same paths, and the ETag keeps the check cheap.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", h.etag(name, data))
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func (h *handler) etag(name string, data []byte) string {
	if v, ok := h.etags[name]; ok {
		return v
	}
	return etagOf(data)
}

func etagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

func isDirErr(files fs.FS, name string) bool {
	st, err := fs.Stat(files, name)
	return err == nil && st.IsDir()
}
