package storage

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/lab"
)

// SVG draws the report like `lab demo`'s chart: per workload a TCP and an
// MPTCP bar of IOPS, each split by the bytes each path carried.
func (r *Report) SVG() string {
	const w, left, barW = 720.0, 170.0, 330.0
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"}
	h := 125 + float64(len(r.Comparisons))*110
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="13">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := "mptcpkit lab storage: NBD over TCP vs MPTCP"
	if r.Lab != nil && len(r.Lab.Paths) > 0 {
		title = fmt.Sprintf("mptcpkit lab storage: NBD (%s client), %d paths x %s", r.Client, len(r.Lab.Paths), lab.FormatRate(r.Lab.Paths[0].Rate))
	}
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	y := 45.0
	for _, c := range r.Comparisons {
		fmt.Fprintf(&b, `<text x="10" y="%g" font-weight="bold">%s</text>`+"\n", y+12,
			html.EscapeString(fmt.Sprintf("%s, %d jobs, iodepth %d — MPTCP %.2fx TCP", c.Workload.Name, c.Workload.Jobs, c.Workload.IODepth, c.Ratio)))
		scale := barW / max(c.TCP.IOPS, c.MPTCP.IOPS, 1)
		for i, row := range []*Row{c.TCP, c.MPTCP} {
			by := y + 20 + float64(i)*40
			label := "TCP (path 1)"
			if row.Mode == "mptcp" {
				label = fmt.Sprintf("MPTCP (%d subflows)", row.Conns.Subflows)
			}
			fmt.Fprintf(&b, `<text x="10" y="%g">%s</text>`+"\n", by+20, html.EscapeString(label))
			var total float64
			for _, p := range row.PathWireBytes {
				total += float64(p)
			}
			x := left
			for j, p := range row.PathWireBytes {
				pw := 0.0
				if total > 0 {
					pw = row.IOPS * scale * float64(p) / total
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="30" fill="%s"><title>path %d</title></rect>`+"\n", x, by, pw, colors[j%len(colors)], j+1)
				x += pw
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%g">%.0f IOPS, p99 %.0f ms</text>`+"\n", x+6, by+20, row.IOPS, row.ClatP99US/1000)
		}
		y += 110
	}
	if r.Lab != nil {
		for i := range r.Lab.Paths {
			x := 10 + float64(i)*110
			fmt.Fprintf(&b, `<rect x="%g" y="%g" width="14" height="14" fill="%s"/><text x="%g" y="%g">path %d</text>`+"\n", x, y-5, colors[i%len(colors)], x+20, y+7, i+1)
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%g" font-size="11" fill="#555">%s</text>`+"\n", y+30, html.EscapeString(fmt.Sprintf("%s, kernel %s, %d CPUs, load %.2f; bars split by the bytes each path carried",
		r.Started.Format(time.RFC3339), r.Host.Kernel, r.Host.CPUs, r.Host.Load[0])))
	fmt.Fprintf(&b, `<text x="10" y="%g" font-size="11" fill="#555">%s</text>`+"\n", y+46, html.EscapeString(fmt.Sprintf("reference: %s: %.2fx", r.Reference.What, r.Reference.Ratio)))
	b.WriteString("</svg>\n")
	return b.String()
}
