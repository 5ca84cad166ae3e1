package flow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultMaxLineBytes is the longest line read by default (1 MiB).
const DefaultMaxLineBytes = 1 << 20

// ErrLineTooLong marks a line longer than the scanner's limit.
var ErrLineTooLong = errors.New("line too long")

// LineError is an error about one line of a stream; reading goes on.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// LineScanner reads NDJSON: one record a line, "\n" or "\r\n" line ends,
// the last line with or without one, blank lines skipped, a UTF-8 byte
// order mark at the start dropped. A line longer than the limit is
// reported as a LineError and skipped; reading continues.
//
//	for sc.Scan() {
//		if err := sc.LineErr(); err != nil { ...; continue }
//		use(sc.Bytes())
//	}
//	if err := sc.Err(); err != nil { ... }
type LineScanner struct {
	r       *bufio.Reader
	max     int
	line    int
	buf     []byte
	cur     []byte
	lineErr *LineError
	err     error
	done    bool
}

// NewLineScanner reads r; maxLine <= 0 means DefaultMaxLineBytes.
func NewLineScanner(r io.Reader, maxLine int) *LineScanner {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	size := 64 << 10
	if maxLine+2 < size {
		size = max(maxLine+2, 16)
	}
	return &LineScanner{r: bufio.NewReaderSize(r, size), max: maxLine}
}

// Scan advances to the next non-blank line, or to a line that is an error
// (LineErr). It returns false at the end of the input or on a read error
// (Err).
func (s *LineScanner) Scan() bool {
	for !s.done {
		s.line++
		s.cur, s.lineErr = nil, nil
		s.buf = s.buf[:0]
		var (
			n        int  // bytes in the line so far (newline excluded)
			tooLong  bool // stopped keeping bytes
			whole    []byte
			sawBytes bool
		)
		for {
			chunk, err := s.r.ReadSlice('\n')
			if len(chunk) > 0 {
				sawBytes = true
			}
			complete := err == nil
			if complete && n == 0 && !tooLong {
				whole = chunk // the common case: the line is in the buffer
			} else if !tooLong {
				if n+len(chunk) > s.max+2 {
					tooLong = true
					s.buf = s.buf[:0]
				} else {
					s.buf = append(s.buf, chunk...)
				}
			}
			n += len(chunk)
			if err == nil {
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			s.done = true
			if err != io.EOF {
				s.err = fmt.Errorf("read line %d: %w", s.line, err)
				return false
			}
			if !sawBytes {
				return false
			}
			break
		}
		if whole == nil {
			whole = s.buf
		}
		whole = bytes.TrimSuffix(whole, []byte{'\n'})
		whole = bytes.TrimSuffix(whole, []byte{'\r'})
		if s.line == 1 {
			whole = bytes.TrimPrefix(whole, []byte(utf8BOM))
		}
		if tooLong || len(whole) > s.max {
			size := n
			if !tooLong {
				size = len(whole)
			}
			s.lineErr = &LineError{Line: s.line, Err: fmt.Errorf("%w: %d bytes or more, the limit is %d", ErrLineTooLong, size, s.max)}
			return true
		}
		if len(bytes.TrimSpace(whole)) == 0 {
			continue
		}
		s.cur = whole
		return true
	}
	return false
}

const utf8BOM = "\xEF\xBB\xBF"

// Bytes returns the current line without its line end; it is valid until
// the next Scan.
func (s *LineScanner) Bytes() []byte { return s.cur }

// Line returns the current line's number (1-based).
func (s *LineScanner) Line() int { return s.line }

// LineErr returns the current line's error (too long), or nil.
func (s *LineScanner) LineErr() error {
	if s.lineErr == nil {
		return nil
	}
	return s.lineErr
}

// Err returns the read error that ended scanning, nil at a clean end.
func (s *LineScanner) Err() error { return s.err }

// ReadOptions configure ReadFlows.
type ReadOptions struct {
	// Format of the stream; "" is FormatAuto.
	Format Format
	// MaxLineBytes bounds a line; 0 is DefaultMaxLineBytes.
	MaxLineBytes int
	// DefaultTime stamps records without a time (else they are errors).
	DefaultTime time.Time
	// KeepErrors is how many line errors ReadStats keeps; 0 is 10.
	KeepErrors int
}

// ReadStats counts what a stream held.
type ReadStats struct {
	// Lines is the number of non-blank lines.
	Lines int
	// Flows were decoded and handed on.
	Flows int
	// Ignored records, by reason.
	Ignored map[IgnoreReason]int
	// Errors is the number of bad lines; the first ones are in
	// FirstErrors.
	Errors      int
	FirstErrors []*LineError
}

// IgnoredTotal is the number of ignored records.
func (s *ReadStats) IgnoredTotal() int {
	n := 0
	for _, c := range s.Ignored {
		n += c
	}
	return n
}

// ReadFlows decodes every line of r and calls fn with each flow. Ignored
// records and bad lines are counted in the stats, not returned; the error
// is a read error, ctx's error, or fn's error (which stops reading). The
// Flow passed to fn is reused: copy it to keep it.
func ReadFlows(ctx context.Context, r io.Reader, opts ReadOptions, fn func(*Flow) error) (ReadStats, error) {
	st := ReadStats{Ignored: map[IgnoreReason]int{}}
	d, err := NewDecoder(DecoderOptions{Format: opts.Format, DefaultTime: opts.DefaultTime})
	if err != nil {
		return st, err
	}
	keep := opts.KeepErrors
	if keep <= 0 {
		keep = 10
	}
	sc := NewLineScanner(r, opts.MaxLineBytes)
	var f Flow
	for sc.Scan() {
		st.Lines++
		if st.Lines&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		err := sc.LineErr()
		if err == nil {
			err = d.Decode(sc.Bytes(), &f)
			if err == nil {
				st.Flows++
				if err := fn(&f); err != nil {
					return st, err
				}
				continue
			}
			if reason, ok := IgnoredReason(err); ok {
				st.Ignored[reason]++
				continue
			}
			err = &LineError{Line: sc.Line(), Err: err}
		}
		st.Errors++
		if len(st.FirstErrors) < keep {
			st.FirstErrors = append(st.FirstErrors, err.(*LineError))
		}
	}
	return st, sc.Err()
}
