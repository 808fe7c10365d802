package dmabuf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// parseFdinfo parses the text of /proc/<pid>/fdinfo/<fd> of a dma-buf:
// generic lines (pos, flags, mnt_id, ino) followed by size, count,
// exp_name and, when set, name. Each line is "key:\tvalue".
func parseFdinfo(text []byte) (Info, error) {
	var info Info
	var haveSize, haveExp bool
	for len(text) > 0 {
		var line []byte
		line, text, _ = bytes.Cut(text, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		key := string(k)
		switch key {
		case "size", "count":
			n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
			if err != nil || n < 0 {
				return Info{}, fmt.Errorf("dmabuf: fdinfo line %q: not a byte or reference count", line)
			}
			if key == "size" {
				info.Size, haveSize = n, true
			} else {
				info.Count = n
			}
		case "ino":
			n, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
			if err != nil {
				return Info{}, fmt.Errorf("dmabuf: fdinfo line %q: not an inode number", line)
			}
			info.Inode = n
		case "exp_name":
			info.ExpName, haveExp = fdinfoString(v), true
		case "name":
			info.Name = fdinfoString(v)
		}
	}
	if !haveSize || !haveExp {
		return Info{}, fmt.Errorf("dmabuf: fdinfo has no size or exp_name line: not a dma-buf, or a kernel older than 5.3")
	}
	return info, nil
}

// fdinfoString returns a string value as the kernel printed it: after the
// tab that follows the colon, with nothing trimmed (names may have spaces).
func fdinfoString(v []byte) string {
	v, _ = bytes.CutPrefix(v, []byte{'\t'})
	return string(v)
}
