package fileupload

import (
	"bytes"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// sniffLen is how much of a file is read before its type is decided (the
// mimetype library's default is 3 KiB): enough that the entry names of an
// Office (zip) file are in view.
const sniffLen = 8 << 10

// Content kinds sniff returns beside real MIME types, for containers whose
// exact type only the name can tell.
const (
	sniffOLE   = "application/x-ole-storage" // legacy Office: .doc, .xls, .ppt, .msg
	sniffOOXML = "application/x-ooxml"       // a zip with Office parts, kind not in view
)

// fileType is a type Parley knows: how clients name it and what its
// content sniffs as.
type fileType struct {
	mime    string   // the canonical type, stored and served
	aliases []string // other names clients declare for it
	exts    []string // file name extensions, lower case with the dot
	sniffs  []string // what sniff says of such content; nil means {mime}
	// active marks types that can run script or code when opened (HTML,
	// SVG, XML, executables): only an accept entry naming them exactly
	// lets them in; wildcards never do.
	active bool
}

func (t *fileType) sniffedAs(s string) bool {
	if t.sniffs == nil {
		return s == t.mime
	}
	return slices.Contains(t.sniffs, s)
}

func (t *fileType) named(mimeType string) bool {
	return mimeType == t.mime || slices.Contains(t.aliases, mimeType)
}

var fileTypes = []*fileType{
	// Images.
	{mime: "image/png", exts: []string{".png"}},
	{mime: "image/jpeg", aliases: []string{"image/jpg", "image/pjpeg"}, exts: []string{".jpg", ".jpeg", ".jpe", ".jfif", ".pjpeg", ".pjp"}},
	{mime: "image/gif", exts: []string{".gif"}},
	{mime: "image/webp", exts: []string{".webp"}},
	{mime: "image/bmp", aliases: []string{"image/x-ms-bmp", "image/x-bmp"}, exts: []string{".bmp"}},
	{mime: "image/x-icon", aliases: []string{"image/vnd.microsoft.icon"}, exts: []string{".ico"}},
	{mime: "image/heic", aliases: []string{"image/heif", "image/heic-sequence", "image/heif-sequence"}, exts: []string{".heic", ".heif"}},
	{mime: "image/avif", exts: []string{".avif"}},
	{mime: "image/tiff", exts: []string{".tif", ".tiff"}},
	{mime: "image/svg+xml", exts: []string{".svg"}, active: true},

	// Documents.
	{mime: "application/pdf", aliases: []string{"application/x-pdf"}, exts: []string{".pdf"}},
	{mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", exts: []string{".docx"},
		sniffs: []string{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", sniffOOXML}},
	{mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", exts: []string{".xlsx"},
		sniffs: []string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", sniffOOXML}},
	{mime: "application/vnd.openxmlformats-officedocument.presentationml.presentation", exts: []string{".pptx"},
		sniffs: []string{"application/vnd.openxmlformats-officedocument.presentationml.presentation", sniffOOXML}},
	{mime: "application/vnd.oasis.opendocument.text", exts: []string{".odt"}},
	{mime: "application/vnd.oasis.opendocument.spreadsheet", exts: []string{".ods"}},
	{mime: "application/vnd.oasis.opendocument.presentation", exts: []string{".odp"}},
	{mime: "application/msword", exts: []string{".doc"}, sniffs: []string{"application/msword", sniffOLE}},
	{mime: "application/vnd.ms-excel", exts: []string{".xls"}, sniffs: []string{"application/vnd.ms-excel", sniffOLE}},
	{mime: "application/vnd.ms-powerpoint", exts: []string{".ppt"}, sniffs: []string{"application/vnd.ms-powerpoint", sniffOLE}},
	{mime: "application/vnd.ms-outlook", exts: []string{".msg"}, sniffs: []string{"application/vnd.ms-outlook", sniffOLE}},
	{mime: "application/rtf", aliases: []string{"text/rtf"}, exts: []string{".rtf"}},
	{mime: "text/plain", exts: []string{".txt", ".text", ".log"}},
	// Windows browsers declare .csv as Excel's type.
	{mime: "text/csv", aliases: []string{"application/csv", "text/x-csv", "application/vnd.ms-excel", "text/plain"}, exts: []string{".csv"}, sniffs: []string{"text/plain"}},
	{mime: "text/markdown", aliases: []string{"text/x-markdown", "text/plain"}, exts: []string{".md", ".markdown"}, sniffs: []string{"text/plain"}},
	{mime: "application/json", exts: []string{".json"}, sniffs: []string{"text/plain"}},

	// Archives.
	{mime: "application/zip", aliases: []string{"application/x-zip-compressed", "application/x-zip"}, exts: []string{".zip"}},
	{mime: "application/x-gzip", aliases: []string{"application/gzip"}, exts: []string{".gz", ".tgz"}},

	// Audio and video.
	{mime: "video/mp4", exts: []string{".mp4", ".m4v"}},
	{mime: "video/quicktime", exts: []string{".mov"}},
	{mime: "video/webm", exts: []string{".webm"}},
	{mime: "audio/mpeg", aliases: []string{"audio/mp3"}, exts: []string{".mp3"}},
	{mime: "audio/mp4", aliases: []string{"audio/x-m4a"}, exts: []string{".m4a"}},
	{mime: "audio/wav", aliases: []string{"audio/wave", "audio/x-wav", "audio/vnd.wave"}, exts: []string{".wav"}},
	{mime: "audio/ogg", aliases: []string{"application/ogg"}, exts: []string{".ogg", ".oga", ".opus"}},

	// Active content: only ever accepted by name.
	{mime: "text/html", aliases: []string{"application/xhtml+xml"}, exts: []string{".html", ".htm", ".xhtml"}, active: true},
	{mime: "text/xml", aliases: []string{"application/xml"}, exts: []string{".xml"}, active: true},
	{mime: "application/x-msdownload", aliases: []string{"application/x-msdos-program", "application/vnd.microsoft.portable-executable"},
		exts: []string{".exe", ".dll", ".com", ".scr"}, active: true},
	{mime: "application/x-executable", aliases: []string{"application/x-elf", "application/x-sharedlib"}, exts: []string{".elf", ".so"}, active: true},
	{mime: "application/x-mach-binary", exts: []string{".dylib"}, active: true},
	{mime: "application/java-vm", aliases: []string{"application/x-java-applet"}, exts: []string{".class"}, active: true},
	{mime: "application/wasm", exts: []string{".wasm"}, active: true},
}

var (
	typeByExt  = map[string]*fileType{}
	typeByMIME = map[string]*fileType{} // canonical names only
	typeByName = map[string]*fileType{} // canonical names and aliases
)

func init() {
	for _, t := range fileTypes {
		for _, e := range t.exts {
			typeByExt[e] = t
		}
		typeByMIME[t.mime] = t
	}
	// Aliases first, so a name that is one type's own and another's alias
	// (text/plain, application/vnd.ms-excel) names its own type.
	for _, t := range fileTypes {
		for _, a := range t.aliases {
			typeByName[a] = t
		}
	}
	maps.Copy(typeByName, typeByMIME)
	mimetype.SetLimit(sniffLen)
}

// genericDeclared are the types clients declare when they do not know.
var genericDeclared = []string{"", "application/octet-stream", "binary/octet-stream", "application/unknown",
	"application/x-download", "application/force-download"}

// serveAs is the Content-Type a stored type is served with: active types
// as opaque bytes, so nothing renders them even if the attachment
// disposition were ignored.
func serveAs(mimeType string) string {
	if t := typeByMIME[mimeType]; t == nil || t.active {
		return "application/octet-stream"
	}
	return mimeType
}

// sniff names the content's type from its first bytes. The mimetype
// library says what the content is; the name it gives is mapped onto the
// types Parley knows (its own name or an alias, else the nearest parent
// that Parley knows). Two policies sit on top: any text that opens an
// <svg element is SVG, so it counts as active content whatever else it
// could be; and text of any kind (CSV, JSON, Markdown...) sniffs as plain
// text, since only the name can tell those apart.
func sniff(b []byte) string {
	m := mimetype.Detect(b)
	switch {
	case isText(m) && looksLikeSVG(b):
		return "image/svg+xml"
	case m.Is("application/zip") && isOOXML(b):
		return sniffOOXML
	case m.Is(sniffOLE): // a legacy Office file the library cannot name
		return sniffOLE
	}
	for ; m != nil; m = m.Parent() {
		name, _, _ := strings.Cut(m.String(), ";")
		if t := typeByName[name]; t != nil {
			if t.sniffedAs("text/plain") {
				return "text/plain"
			}
			return t.mime
		}
	}
	return "application/octet-stream"
}

// isText reports whether the library counts m as some kind of text.
func isText(m *mimetype.MIME) bool {
	for ; m != nil; m = m.Parent() {
		if m.Is("text/plain") {
			return true
		}
	}
	return false
}

// isOOXML reports whether a zip the library calls plain holds Office Open
// XML parts whose kind (word, sheet, slides) lies beyond what was read.
func isOOXML(b []byte) bool {
	return bytes.Contains(b, []byte("[Content_Types].xml")) || bytes.Contains(b, []byte("_rels/.rels"))
}

// looksLikeSVG reports whether text starts (after a BOM, white space, an
// XML declaration, comments or a doctype) with an <svg element.
func looksLikeSVG(b []byte) bool {
	s := strings.ToLower(string(b))
	s = strings.TrimPrefix(s, "\ufeff")
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "<svg"):
			return true
		case strings.HasPrefix(s, "<?"), strings.HasPrefix(s, "<!"):
			end := ">"
			if strings.HasPrefix(s, "<!--") {
				end = "-->"
			}
			i := strings.Index(s, end)
			if i < 0 {
				return strings.Contains(s, "<svg")
			}
			s = s[i+len(end):]
		default:
			return false
		}
	}
}

// checkType decides the type a file is stored as: the content's sniffed
// type, the name's extension and the declared Content-Type must agree,
// and the accept list must take the result. It returns an *Error with
// status 415 otherwise: unsupported_type when the type is not accepted or
// unknown, type_mismatch when name, declaration and content disagree.
func checkType(head []byte, name, declared string, accept []string) (string, error) {
	sniffed := sniff(head)
	var t *fileType
	if ext := strings.ToLower(path.Ext(name)); ext != "" {
		if t = typeByExt[ext]; t == nil {
			return "", &Error{http.StatusUnsupportedMediaType, "unsupported_type", fmt.Sprintf("files ending in %q are not accepted", ext)}
		}
		if !t.sniffedAs(sniffed) {
			return "", &Error{http.StatusUnsupportedMediaType, "type_mismatch", fmt.Sprintf("the file's content is %s, not what its name %q says", sniffed, ext)}
		}
	} else if t = typeByMIME[sniffed]; t == nil {
		return "", &Error{http.StatusUnsupportedMediaType, "unsupported_type", fmt.Sprintf("files of type %s are not accepted", sniffed)}
	}
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil && declared != "" {
		return "", &Error{http.StatusUnsupportedMediaType, "type_mismatch", "the part's Content-Type does not parse"}
	}
	if !slices.Contains(genericDeclared, mt) && !t.named(mt) {
		return "", &Error{http.StatusUnsupportedMediaType, "type_mismatch", fmt.Sprintf("the file was sent as %s but its content is %s", mt, t.mime)}
	}
	if !accepts(accept, t) {
		return "", &Error{http.StatusUnsupportedMediaType, "unsupported_type", fmt.Sprintf("%s files are not accepted here; accepted: %s", t.mime, strings.Join(accept, ", "))}
	}
	return t.mime, nil
}

// accepts reports whether an accept list takes type t. Entries are MIME
// types ("application/pdf"), wildcards ("image/*", "*/*") or extensions
// (".pdf"). Wildcards never take active types.
func accepts(accept []string, t *fileType) bool {
	major, _, _ := strings.Cut(t.mime, "/")
	for _, a := range accept {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case strings.HasPrefix(a, "."):
			if slices.Contains(t.exts, a) {
				return true
			}
		case a == "*/*" || a == "*":
			if !t.active {
				return true
			}
		case strings.HasSuffix(a, "/*"):
			if !t.active && strings.TrimSuffix(a, "/*") == major {
				return true
			}
		case t.named(a):
			return true
		}
	}
	return false
}
