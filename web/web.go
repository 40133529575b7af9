package web

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Templates parses the portal templates. html/template escapes every value
// by context, so a hostile rd or username cannot inject markup.
func Templates() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/*.html")
}

// Static returns the assets served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		// The directory is embedded at build time; its absence is a build bug.
		panic(err)
	}
	return sub
}
