package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// readResponse reads one HTTP/1.1 response off br and discards its body,
// returning the status and whether the server will close the connection.
// It reads what wrk's parser reads (status line, Content-Length,
// Transfer-Encoding: chunked, Connection: close) and nothing else:
// http.ReadResponse builds a header map and a body reader per answer,
// which at tens of thousands of answers a second took a tenth of the CPU
// of the process our server shares with the load.
func readResponse(br *bufio.Reader) (status int, closed bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, errors.New("not an HTTP/1.1 status line: " + strconv.Quote(string(line)))
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, err
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, false, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closed = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		return status, closed, skipChunks(br)
	case length >= 0:
		_, err = br.Discard(int(length))
		return status, closed, err
	default: // the body runs to the end of the connection
		_, err = io.Copy(io.Discard, br)
		return status, true, err
	}
}

// skipChunks discards a chunked body and its (empty) trailer.
func skipChunks(br *bufio.Reader) error {
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
		if _, err := br.Discard(int(n) + 2); err != nil { // the chunk and its CRLF
			return err
		}
	}
}
