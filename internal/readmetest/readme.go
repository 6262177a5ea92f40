package readmetest

import (
	"bufio"
	"regexp"
	"strings"
)

// Line is one runnable README line.
type Line struct {
	No   int    // 1-based line number in the README
	Text string // as written
}

var elsewhere = regexp.MustCompile(`(^|\s)#\s*elsewhere:`)

// Commands returns the lines of README text that the newcomer run executes
// (see the package doc for the rule) and those it skips.
func Commands(readme string) (run, skipped []Line) {
	sc := bufio.NewScanner(strings.NewReader(readme))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	in, runnable := false, false
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.HasPrefix(l, "```") {
			if !in {
				in, runnable = true, strings.TrimSpace(strings.TrimPrefix(l, "```")) == "sh"
			} else {
				in = false
			}
			continue
		}
		t := strings.TrimSpace(l)
		if !in || !runnable || t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if elsewhere.MatchString(l) {
			skipped = append(skipped, Line{n, l})
			continue
		}
		run = append(run, Line{n, l})
	}
	return run, skipped
}

// Script turns lines into a bash script that echoes each line (with its
// README line number) before running it.
func Script(lines []Line) string {
	var b strings.Builder
	b.WriteString("set -e -o pipefail\n")
	for _, l := range lines {
		b.WriteString("echo " + shQuote("README:"+itoa(l.No)+": "+l.Text) + " >&2\n")
		b.WriteString(l.Text + "\n")
		if strings.HasSuffix(strings.TrimSpace(stripComment(l.Text)), "&") {
			b.WriteString("sleep 1\n")
		}
	}
	b.WriteString("echo 'README: all commands ran' >&2\n")
	return b.String()
}

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	return s
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func itoa(n int) string {
	var b []byte
	for n >= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(append([]byte{byte('0' + n)}, b...))
}
