package benchkit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
)

// Head is what a load generator reads of an HTTP/1.1 response's head:
// what wrk's parser reads (status line, Content-Length,
// Transfer-Encoding: chunked, Connection: close) and nothing else.
// http.ReadResponse and the Transport build a header map, a body reader
// and goroutines per answer, which at tens of thousands of answers a
// second took a tenth or more of the CPU the servers under test share
// with the load on two cores; the clients they stand for run on machines
// of their own.
type Head struct {
	Status  int
	Length  int64 // -1 when the head gives none
	Chunked bool
	Close   bool // the server closes the connection after this answer
}

// ReadHead reads a response's status line and headers off br.
func ReadHead(br *bufio.Reader) (Head, error) {
	h := Head{Length: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return h, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return h, errors.New("not an HTTP/1.1 status line: " + strconv.Quote(string(line)))
	}
	if h.Status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return h, err
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return h, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.Length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return h, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.Chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			h.Close = bytes.EqualFold(value, []byte("close"))
		}
	}
	if !h.Chunked && h.Length < 0 {
		h.Close = true // the body runs to the end of the connection
	}
	return h, nil
}

// ReadBody reads the body h announced off br, de-chunked, and appends it
// to *dst, or discards it when dst is nil.
func ReadBody(br *bufio.Reader, h Head, dst *[]byte) error {
	switch {
	case h.Chunked:
		return readChunks(br, dst)
	case h.Length >= 0:
		return readN(br, h.Length, dst)
	default:
		if dst == nil {
			_, err := io.Copy(io.Discard, br)
			return err
		}
		b, err := io.ReadAll(br)
		*dst = append(*dst, b...)
		return err
	}
}

func readN(br *bufio.Reader, n int64, dst *[]byte) error {
	if dst == nil {
		_, err := br.Discard(int(n))
		return err
	}
	start := len(*dst)
	*dst = slices.Grow(*dst, int(n))[:start+int(n)]
	_, err := io.ReadFull(br, (*dst)[start:])
	return err
}

// readChunks reads a chunked body and its (empty) trailer.
func readChunks(br *bufio.Reader, dst *[]byte) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil {
			return err
		}
		if n == 0 {
			for { // trailer lines, then the blank line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := readN(br, n, dst); err != nil {
			return err
		}
		if _, err := br.Discard(2); err != nil { // the chunk's CRLF
			return err
		}
	}
}
