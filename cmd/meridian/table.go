package main

import (
	"bytes"
	"io"
	"strings"
	"text/tabwriter"
)

// textTable renders rows as left-aligned columns separated by at least padding
// spaces, without trailing blanks (like Consul's columnize output).
type textTable struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTextTable(out io.Writer, padding int) *textTable {
	t := &textTable{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, padding, ' ', 0)
	return t
}

// row adds one row; cells must not contain tabs or newlines.
func (t *textTable) row(cells ...string) {
	_, _ = io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
}

// flush writes the aligned rows to the output.
func (t *textTable) flush() {
	_ = t.tw.Flush()
	for line := range strings.Lines(t.buf.String()) {
		_, _ = io.WriteString(t.out, strings.TrimRight(line, " \n")+"\n")
	}
	t.buf.Reset()
}
