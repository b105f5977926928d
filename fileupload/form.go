package fileupload

import (
	"io"
	"math"
	"mime"
	"mime/multipart"
)

// form reads a multipart/form-data body part by part, streaming, with caps
// on the number of parts, the size of each part's headers and of every
// part but the file.
type form struct {
	mr     *multipart.Reader
	budget *budgetReader
	lim    Limits
	parts  int
}

func newForm(body io.Reader, boundary string, lim Limits) *form {
	b := &budgetReader{r: body}
	return &form{mr: multipart.NewReader(b, boundary), budget: b, lim: lim}
}

// budgetReader lets at most left bytes through, then fails with
// errHeaderTooBig: the multipart reader reads a part's headers whole, so
// this is what bounds them.
type budgetReader struct {
	r    io.Reader
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errHeaderTooBig
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// next returns the next part, io.EOF after the last.
func (f *form) next() (*multipart.Part, error) {
	f.budget.left = int64(f.lim.MaxPartHeaderBytes) + readAhead
	p, err := f.mr.NextPart()
	if err != nil {
		return nil, err
	}
	f.parts++
	if f.parts > f.lim.MaxParts {
		return nil, errTooManyParts
	}
	return p, nil
}

// nextFile skips (small) fields up to the file part and returns it with
// its raw file name.
func (f *form) nextFile() (*multipart.Part, string, error) {
	for {
		p, err := f.next()
		if err == io.EOF {
			return nil, "", errNoFile
		}
		if err != nil {
			return nil, "", err
		}
		name, isFile, err := partFile(p)
		if err != nil {
			return nil, "", err
		}
		if isFile {
			// The file's own cap (limitReader) and the body's
			// (MaxBytesReader) bound it from here.
			f.budget.left = math.MaxInt64
			return p, name, nil
		}
		if err := f.dropField(p); err != nil {
			return nil, "", err
		}
	}
}

// rest reads the parts after the file to the end of the body: small
// fields are dropped, another file is refused.
func (f *form) rest() error {
	for {
		p, err := f.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		_, isFile, err := partFile(p)
		if err != nil {
			return err
		}
		if isFile {
			return errTooManyFiles
		}
		if err := f.dropField(p); err != nil {
			return err
		}
	}
}

// dropField reads a field beside the file and forgets it.
func (f *form) dropField(p *multipart.Part) error {
	f.budget.left += int64(f.lim.MaxFieldBytes)
	n, err := io.CopyN(io.Discard, p, int64(f.lim.MaxFieldBytes)+1)
	if n > int64(f.lim.MaxFieldBytes) {
		return errFieldTooLarge
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// partFile reports whether p is a file part (it has a filename, or it is
// the field "file") and the file name it gives.
func partFile(p *multipart.Part) (name string, isFile bool, err error) {
	v := p.Header.Get("Content-Disposition")
	if v == "" {
		return "", false, nil
	}
	disp, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", false, errBadMultipart
	}
	if disp != "form-data" {
		return "", false, nil
	}
	name, hasName := params["filename"]
	return name, hasName || params["name"] == "file", nil
}
