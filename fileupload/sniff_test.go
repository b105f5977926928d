package fileupload

import (
	"archive/zip"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Sample files, built the way real tools write them.

func samplePNG(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func sampleJPEG(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func sampleGIF(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White}), nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

var samplePDF = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// sampleZip writes entries in order; a "mimetype" entry is stored
// uncompressed, as OpenDocument requires.
func sampleZip(tb testing.TB, entries ...[2]string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e[0], Method: zip.Deflate}
		if e[0] == "mimetype" {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func sampleDOCX(tb testing.TB) []byte {
	return sampleZip(tb,
		[2]string{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		[2]string{"_rels/.rels", `<Relationships/>`},
		[2]string{"word/document.xml", `<w:document/>`})
}

func sampleXLSX(tb testing.TB) []byte {
	return sampleZip(tb,
		[2]string{"[Content_Types].xml", `<Types/>`},
		[2]string{"xl/workbook.xml", `<workbook/>`})
}

func sampleODT(tb testing.TB) []byte {
	return sampleZip(tb,
		[2]string{"mimetype", "application/vnd.oasis.opendocument.text"},
		[2]string{"content.xml", `<office:document-content/>`})
}

var (
	sampleDOC  = append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 504)...)
	sampleELF  = append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 120)...)
	sampleMZ   = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 118)...)
	sampleHTML = []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
	sampleSVG  = []byte(`<?xml version="1.0"?>` + "\n" + `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>`)
	sampleHEIC = append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)
	sampleText = []byte("name,email\nAnn,ann@example.org\n")
)

func TestSniff(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"png", samplePNG(t), "image/png"},
		{"jpeg", sampleJPEG(t), "image/jpeg"},
		{"gif", sampleGIF(t), "image/gif"},
		{"heic", sampleHEIC, "image/heic"},
		{"pdf", samplePDF, "application/pdf"},
		{"docx", sampleDOCX(t), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"xlsx", sampleXLSX(t), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"odt", sampleODT(t), "application/vnd.oasis.opendocument.text"},
		{"zip", sampleZip(t, [2]string{"a.txt", "hello"}), "application/zip"},
		{"doc", sampleDOC, sniffOLE},
		{"elf", sampleELF, "application/x-executable"},
		{"exe", sampleMZ, "application/x-msdownload"},
		{"html", sampleHTML, "text/html"},
		{"svg", sampleSVG, "image/svg+xml"},
		{"bare svg", []byte("  <svg><script>x</script></svg>"), "image/svg+xml"},
		{"text", sampleText, "text/plain"},
		{"tsv", []byte("a\tb\nc\td\n"), "text/plain"},
		{"json", []byte(`{"a":1}`), "text/plain"},
		{"rtf", []byte(`{\rtf1 hi}`), "application/rtf"},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{"office zip, kind beyond the window", sampleZip(t, [2]string{"[Content_Types].xml", "<Types/>"}), sniffOOXML},
		{"xhtml", []byte(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`), "text/html"},
		{"svg behind a comment", []byte("<?xml version=\"1.0\"?><!-- x --><svg><script>x</script></svg>"), "image/svg+xml"},
		{"java class", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34"), "application/java-vm"},
		{"wasm", []byte("\x00asm\x01\x00\x00\x00"), "application/wasm"},
		{"mach-o", []byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"), "application/x-mach-binary"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wav"},
		{"ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), "audio/ogg"},
		{"gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"), "application/x-gzip"},
		{"unknown binary", []byte{1, 2, 3, 4, 5, 0, 0, 7}, "application/octet-stream"},
	} {
		if got := sniff(tt.data); got != tt.want {
			t.Errorf("sniff(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckType(t *testing.T) {
	images := []string{"image/*"}
	demo := []string{"image/*", "application/pdf", ".pdf"}
	office := []string{".docx", "application/msword", ".xlsx", ".odt", "text/csv"}
	for _, tt := range []struct {
		what     string
		data     []byte
		name     string
		declared string
		accept   []string
		want     string // the stored type, or the error code
	}{
		{"png", samplePNG(t), "a.png", "image/png", images, "image/png"},
		{"png, upper-case extension", samplePNG(t), "A.PNG", "image/png", images, "image/png"},
		{"png, generic declaration", samplePNG(t), "a.png", "application/octet-stream", images, "image/png"},
		{"png, no declaration", samplePNG(t), "a.png", "", images, "image/png"},
		{"png, no extension", samplePNG(t), "screenshot", "", images, "image/png"},
		{"jpeg as .jpg", sampleJPEG(t), "IMG_0001.jpg", "image/jpeg", demo, "image/jpeg"},
		{"heic", sampleHEIC, "IMG_0002.HEIC", "image/heic", images, "image/heic"},
		{"pdf by type", samplePDF, "cv.pdf", "application/pdf", demo, "application/pdf"},
		{"pdf by extension", samplePDF, "cv.pdf", "application/pdf", []string{".pdf"}, "application/pdf"},
		{"pdf not accepted", samplePDF, "cv.pdf", "application/pdf", images, "unsupported_type"},
		{"docx", sampleDOCX(t), "cv.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", office, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"xlsx", sampleXLSX(t), "sheet.xlsx", "", office, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"odt", sampleODT(t), "cv.odt", "", office, "application/vnd.oasis.opendocument.text"},
		{"doc", sampleDOC, "cv.doc", "application/msword", office, "application/msword"},
		{"csv from Windows", sampleText, "list.csv", "application/vnd.ms-excel", office, "text/csv"},
		{"docx named .xlsx", sampleDOCX(t), "cv.xlsx", "", office, "type_mismatch"},
		{"plain zip named .docx", sampleZip(t, [2]string{"a.txt", "x"}), "cv.docx", "", office, "type_mismatch"},
		{"doc named .docx", sampleDOC, "cv.docx", "", office, "type_mismatch"},

		{"ELF named .png", sampleELF, "cat.png", "image/png", images, "type_mismatch"},
		{"MZ named .png", sampleMZ, "cat.png", "image/png", images, "type_mismatch"},
		{"MZ named .pdf", sampleMZ, "cv.pdf", "application/pdf", demo, "type_mismatch"},
		{"exe with no extension", sampleMZ, "setup", "", []string{"*/*"}, "unsupported_type"},
		{"HTML named .png", sampleHTML, "cat.png", "image/png", images, "type_mismatch"},
		{"HTML as HTML", sampleHTML, "page.html", "text/html", images, "unsupported_type"},
		{"HTML under */*", sampleHTML, "page.html", "text/html", []string{"*/*"}, "unsupported_type"},
		{"SVG under image/*", sampleSVG, "logo.svg", "image/svg+xml", images, "unsupported_type"},
		{"SVG named .png", sampleSVG, "logo.png", "image/png", images, "type_mismatch"},
		{"SVG by name", sampleSVG, "logo.svg", "image/svg+xml", []string{"image/svg+xml"}, "image/svg+xml"},
		{"png named .php", samplePNG(t), "jpg.php", "", images, "unsupported_type"},
		{"png declared as pdf", samplePNG(t), "a.png", "application/pdf", demo, "type_mismatch"},
		{"png declared badly", samplePNG(t), "a.png", "image/png; ===", images, "type_mismatch"},
		{"unknown binary", []byte{1, 2, 3, 4, 5, 0, 0, 7}, "data", "", []string{"*/*"}, "unsupported_type"},
	} {
		got, err := checkType(tt.data, tt.name, tt.declared, tt.accept)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != 415 {
				t.Errorf("%s: error %v, want a 415 *Error", tt.what, err)
				continue
			}
			got = e.Code
		}
		if got != tt.want {
			t.Errorf("%s: got %q (%v), want %q", tt.what, got, err, tt.want)
		}
	}
}

func TestDisposition(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"cv.pdf", `attachment; filename=cv.pdf; filename*=UTF-8''cv.pdf`},
		{"my cv.pdf", `attachment; filename="my cv.pdf"; filename*=UTF-8''my%20cv.pdf`},
		{`a"b;c.png`, `attachment; filename="a_b;c.png"; filename*=UTF-8''a%22b%3Bc.png`},
		{"Müller.pdf", `attachment; filename=M_ller.pdf; filename*=UTF-8''M%C3%BCller.pdf`},
	} {
		if got := Disposition(tt.name); got != tt.want {
			t.Errorf("Disposition(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
}
