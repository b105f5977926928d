package fileupload

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
)

// sniffLen is how much of a file is read before its type is decided: more
// than http.DetectContentType's 512 bytes, so the entry names of an
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
	{mime: "application/msword", exts: []string{".doc"}, sniffs: []string{sniffOLE}},
	{mime: "application/vnd.ms-excel", exts: []string{".xls"}, sniffs: []string{sniffOLE}},
	{mime: "application/vnd.ms-powerpoint", exts: []string{".ppt"}, sniffs: []string{sniffOLE}},
	{mime: "application/vnd.ms-outlook", exts: []string{".msg"}, sniffs: []string{sniffOLE}},
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
	{mime: "audio/wav", aliases: []string{"audio/wave", "audio/x-wav", "audio/vnd.wave"}, exts: []string{".wav"}, sniffs: []string{"audio/wave"}},
	{mime: "audio/ogg", aliases: []string{"application/ogg"}, exts: []string{".ogg", ".oga", ".opus"}, sniffs: []string{"application/ogg"}},

	// Active content: only ever accepted by name.
	{mime: "text/html", aliases: []string{"application/xhtml+xml"}, exts: []string{".html", ".htm", ".xhtml"}, active: true},
	{mime: "text/xml", aliases: []string{"application/xml"}, exts: []string{".xml"}, active: true},
	{mime: "application/x-msdownload", aliases: []string{"application/x-msdos-program", "application/vnd.microsoft.portable-executable"},
		exts: []string{".exe", ".dll", ".com", ".scr"}, active: true},
	{mime: "application/x-executable", aliases: []string{"application/x-elf", "application/x-sharedlib"}, exts: []string{".elf", ".so"}, active: true},
	{mime: "application/x-mach-binary", exts: []string{".dylib"}, active: true},
	{mime: "application/java-vm", exts: []string{".class"}, active: true},
	{mime: "application/wasm", exts: []string{".wasm"}, active: true},
}

var (
	typeByExt  = map[string]*fileType{}
	typeByMIME = map[string]*fileType{}
)

func init() {
	for _, t := range fileTypes {
		for _, e := range t.exts {
			typeByExt[e] = t
		}
		typeByMIME[t.mime] = t
	}
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

// sniff names the content's type from its first bytes: signatures Go does
// not know (executables, Office, HEIC, TIFF, RTF, SVG) first, then
// http.DetectContentType. Parameters are dropped.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "application/x-executable"
	case bytes.HasPrefix(b, []byte("MZ")):
		return "application/x-msdownload"
	case hasAnyPrefix(b, "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe"):
		return "application/x-mach-binary"
	case bytes.HasPrefix(b, []byte("\xca\xfe\xba\xbe")): // Java class or universal Mach-O: code either way
		return "application/java-vm"
	case bytes.HasPrefix(b, []byte("\x00asm")):
		return "application/wasm"
	case bytes.HasPrefix(b, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return sniffOLE
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return sniffZip(b)
	case hasAnyPrefix(b, "II*\x00", "MM\x00*"):
		return "image/tiff"
	case bytes.HasPrefix(b, []byte(`{\rtf`)):
		return "application/rtf"
	}
	if t := sniffFtyp(b); t != "" {
		return t
	}
	t, _, _ := strings.Cut(http.DetectContentType(b), ";")
	if (t == "text/xml" || t == "text/plain") && looksLikeSVG(b) {
		return "image/svg+xml"
	}
	return t
}

func hasAnyPrefix(b []byte, prefixes ...string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// sniffZip tells OpenDocument (a first entry "mimetype" holding the type)
// and Office Open XML (entries [Content_Types].xml, word/, xl/, ppt/) from
// other zips.
func sniffZip(b []byte) string {
	// Local file header: name length at 26, extra length at 28, name at 30.
	if len(b) >= 30 {
		nameLen := int(b[26]) | int(b[27])<<8
		extraLen := int(b[28]) | int(b[29])<<8
		if nameLen == 8 && len(b) >= 30+8 && string(b[30:38]) == "mimetype" {
			data := b[min(len(b), 38+extraLen):]
			for _, t := range []string{"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet", "application/vnd.oasis.opendocument.presentation"} {
				if bytes.HasPrefix(data, []byte(t)) && !bytes.HasPrefix(data, []byte(t+"-")) {
					return t
				}
			}
		}
	}
	switch {
	case bytes.Contains(b, []byte("word/")):
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case bytes.Contains(b, []byte("xl/")):
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case bytes.Contains(b, []byte("ppt/")):
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	case bytes.Contains(b, []byte("[Content_Types].xml")), bytes.Contains(b, []byte("_rels/.rels")):
		return sniffOOXML
	}
	return "application/zip"
}

// sniffFtyp reads the brand of an ISO media file for the types Go's
// sniffer leaves out: HEIC and AVIF photos, QuickTime, M4A.
func sniffFtyp(b []byte) string {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		return ""
	}
	switch string(b[8:12]) {
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1":
		return "image/heic"
	case "avif", "avis":
		return "image/avif"
	case "qt  ":
		return "video/quicktime"
	case "M4A ", "M4B ":
		return "audio/mp4"
	}
	return ""
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
