package fetch

import (
	"archive/tar"
	"archive/zip"
)

// tarHardLink reports whether an archive header is a tar hard link.
func tarHardLink(h any) bool {
	switch h := h.(type) {
	case *tar.Header:
		return h.Typeflag == tar.TypeLink
	case tar.Header:
		return h.Typeflag == tar.TypeLink
	case *zip.FileHeader, zip.FileHeader:
		return false
	}
	return false
}
