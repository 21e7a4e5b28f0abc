package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ticketview/ticketview/bench/load"
)

// Size of every plot.
var (
	plotWidth  = 8 * vg.Inch
	plotHeight = 4 * vg.Inch
)

// chart is one planned plot: its file name, a caption, and the plot; p is nil when
// there is no data to plot.
type chart struct {
	file    string
	caption string
	p       *plot.Plot
	err     error // building it failed
}

// resultCharts are the plots of one result.
type resultCharts struct {
	r      *load.Result
	charts []chart
}

// scenarioCharts are the plots of one scenario: per result, then the comparisons.
type scenarioCharts struct {
	name    string
	results []resultCharts
	compare []chart
}

// planCharts decides every plot of the run and its file name, and builds the plots that
// have data. File names are "<scenario>-<target>-<kind>.png" and
// "<scenario>-compare-<kind>.png", with names made file-safe and "-2", "-3" appended
// should two coincide.
func planCharts(run load.Run) []scenarioCharts {
	used := map[string]bool{"results.json": true, "summary.md": true}
	unique := func(base string) string {
		name := base
		for i := 2; used[name+"-latency.png"] || used[name+"-throughput.png"] || used[name+"-histogram.png"] || used[name+"-p99.png"]; i++ {
			name = base + "-" + strconv.Itoa(i)
		}
		return name
	}
	colors := targetColors(run.Results)

	var out []scenarioCharts
	for _, g := range byScenario(run.Results) {
		sc := scenarioCharts{name: g.name}
		for _, r := range g.results {
			base := unique(slug(g.name) + "-" + slug(r.Target))
			label := g.name + " / " + r.Target
			rc := resultCharts{r: r}
			for _, c := range []chart{
				build(base+"-latency.png", label+": hold latency over time", func() (*plot.Plot, error) { return latencyPlot(label, r) }),
				build(base+"-throughput.png", label+": throughput over time", func() (*plot.Plot, error) { return throughputPlot(label, r) }),
				build(base+"-histogram.png", label+": latency histogram", func() (*plot.Plot, error) { return histogramPlot(label, r) }),
			} {
				used[c.file] = true
				rc.charts = append(rc.charts, c)
			}
			sc.results = append(sc.results, rc)
		}
		base := unique(slug(g.name) + "-compare")
		for _, c := range []chart{
			build(base+"-throughput.png", g.name+": holds/s of every target", func() (*plot.Plot, error) { return compareThroughput(g, colors) }),
			build(base+"-p99.png", g.name+": hold p99 of every target", func() (*plot.Plot, error) { return compareP99(g, colors) }),
		} {
			used[c.file] = true
			sc.compare = append(sc.compare, c)
		}
		out = append(out, sc)
	}
	return out
}

// build makes a chart, turning a panic of the plotting library into an error.
func build(file, caption string, f func() (*plot.Plot, error)) (c chart) {
	c = chart{file: file, caption: caption}
	defer func() {
		if v := recover(); v != nil {
			c.p, c.err = nil, fmt.Errorf("plot %s: %v", file, v)
		}
	}()
	c.p, c.err = f()
	if c.err != nil {
		c.p, c.err = nil, fmt.Errorf("plot %s: %w", file, c.err)
	}
	return c
}

// savePNG renders the plot as a PNG into path.
func savePNG(p *plot.Plot, path string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("render %s: %v", filepath.Base(path), v)
		}
	}()
	w, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return fmt.Errorf("render %s: %w", filepath.Base(path), err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return fmt.Errorf("render %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// targetColors gives each target a color, the same in every scenario.
func targetColors(results []load.Result) map[string]color.Color {
	out := map[string]color.Color{}
	for _, r := range results {
		if _, ok := out[r.Target]; !ok {
			out[r.Target] = palette(len(out))
		}
	}
	return out
}

func palette(i int) color.Color {
	return plotutil.DarkColors[i%len(plotutil.DarkColors)]
}

// newPlot is a plot with a title, axis labels, a grid and the legend at the top left.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = legendFont
	p.Add(plotter.NewGrid())
	return p
}

// legendFont is the legend's font size.
const legendFont = vg.Length(10)

// makeRoom raises the top of the y axis so the legend (entries rows at the top left)
// sits above the data, on a linear or a log axis.
func makeRoom(p *plot.Plot, entries int) {
	if entries == 0 || !finite(p.Y.Min) || !finite(p.Y.Max) || p.Y.Max <= p.Y.Min {
		return
	}
	dataHeight := float64(plotHeight.Points()) - 60 // less the title and the x axis
	f := (float64(entries)*1.25*float64(legendFont) + 6) / dataHeight
	if f >= 0.6 {
		f = 0.6
	}
	if _, isLog := p.Y.Scale.(plot.LogScale); isLog && p.Y.Min > 0 {
		lo, hi := math.Log10(p.Y.Min), math.Log10(p.Y.Max)
		p.Y.Max = math.Pow(10, lo+(hi-lo)/(1-f))
		return
	}
	p.Y.Max = p.Y.Min + (p.Y.Max-p.Y.Min)/(1-f)
}

// timeline is the result's seconds, in time order.
func timeline(r *load.Result) []load.Second {
	tl := slices.Clone(r.Timeline)
	slices.SortStableFunc(tl, func(a, b load.Second) int { return a.T - b.T })
	return tl
}

// series is a named line made of segments (a gap between them where there is no data).
type series struct {
	name     string
	segments []plotter.XYs
	color    color.Color
	dashes   []vg.Length
}

// add appends a point, starting a new segment when gap is true.
func (s *series) add(x, y float64, gap bool) {
	if !finite(x) || !finite(y) {
		return
	}
	if gap || len(s.segments) == 0 {
		s.segments = append(s.segments, nil)
	}
	last := &s.segments[len(s.segments)-1]
	*last = append(*last, plotter.XY{X: x, Y: y})
}

func (s *series) empty() bool {
	for _, seg := range s.segments {
		if len(seg) > 0 {
			return false
		}
	}
	return true
}

// values are the series' y values.
func (s *series) values() []float64 {
	var out []float64
	for _, seg := range s.segments {
		for _, p := range seg {
			out = append(out, p.Y)
		}
	}
	return out
}

// addSeries draws the series on p (one legend entry each) and reports whether any had
// data. Points are marked when segments are short, so a lone second shows.
func addSeries(p *plot.Plot, ss []*series) (bool, error) {
	drawn := false
	for _, s := range ss {
		if s.empty() {
			continue
		}
		drawn = true
		var thumb plot.Thumbnailer
		for _, seg := range s.segments {
			if len(seg) == 0 {
				continue
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return false, err
			}
			l.LineStyle.Color = s.color
			l.LineStyle.Width = vg.Points(1.5)
			l.LineStyle.Dashes = s.dashes
			p.Add(l)
			if len(seg) < 3 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return false, err
				}
				sc.GlyphStyle.Color = s.color
				sc.GlyphStyle.Radius = vg.Points(2)
				sc.GlyphStyle.Shape = draw.CircleGlyph{}
				p.Add(sc)
			}
			if thumb == nil {
				thumb = l
			}
		}
		p.Legend.Add(s.name, thumb)
	}
	return drawn, nil
}

// latencyPlot is the hold p50 and p99 per second; seconds without holds are gaps.
func latencyPlot(label string, r *load.Result) (*plot.Plot, error) {
	p50 := &series{name: "hold p50", color: palette(2)}
	p99 := &series{name: "hold p99", color: palette(0)}
	prev := math.MinInt
	for _, s := range timeline(r) {
		if s.Holds <= 0 {
			continue
		}
		gap := s.T != prev+1
		prev = s.T
		p50.add(float64(s.T), s.HoldP50, gap)
		p99.add(float64(s.T), s.HoldP99, gap)
	}
	p := newPlot(label+": hold latency per second", "time (s)", "latency (ms)")
	return latencySeries(p, []*series{p99, p50})
}

// throughputPlot is holds/s, sales/s and arrivals/s.
func throughputPlot(label string, r *load.Result) (*plot.Plot, error) {
	arr := &series{name: "arrivals/s", color: palette(3), dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	holds := &series{name: "holds/s", color: palette(2)}
	sales := &series{name: "sales/s", color: palette(1)}
	prev := math.MinInt
	for _, s := range timeline(r) {
		gap := s.T != prev+1
		prev = s.T
		arr.add(float64(s.T), float64(s.Arrivals), gap)
		holds.add(float64(s.T), float64(s.Holds), gap)
		sales.add(float64(s.T), float64(s.Sales), gap)
	}
	p := newPlot(label+": throughput per second", "time (s)", "per second")
	drawn, err := addSeries(p, []*series{holds, sales, arr})
	if err != nil || !drawn {
		return nil, err
	}
	p.Y.Min = math.Min(0, p.Y.Min)
	makeRoom(p, 3)
	return p, nil
}

// bin is one histogram bin: [lo, hi) ms, and the share of the requests in it (%).
type bin struct{ lo, hi, pct float64 }

// bins are the op's histogram on a log axis: the first bin starts at half the first
// bound, the last (overflow) bin ends at the op's max or twice the last bound. ok is
// false when the histogram is missing or malformed.
func bins(s load.OpStats) ([]bin, bool) {
	nb, nc := len(s.Bounds), len(s.Counts)
	if nb == 0 || (nc != nb && nc != nb+1) {
		return nil, false
	}
	total := 0
	for i, b := range s.Bounds {
		if !finite(b) || b <= 0 || (i > 0 && b <= s.Bounds[i-1]) {
			return nil, false
		}
	}
	for _, c := range s.Counts {
		if c < 0 {
			return nil, false
		}
		total += c
	}
	if total == 0 {
		return nil, false
	}
	out := make([]bin, nc)
	for i, c := range s.Counts {
		lo, hi := 0.0, 0.0
		switch {
		case i == 0:
			lo, hi = s.Bounds[0]/2, s.Bounds[0]
		case i < nb:
			lo, hi = s.Bounds[i-1], s.Bounds[i]
		default: // overflow
			lo, hi = s.Bounds[nb-1], 2*s.Bounds[nb-1]
			if finite(s.Max) && s.Max > lo {
				hi = s.Max
			}
		}
		out[i] = bin{lo: lo, hi: hi, pct: 100 * float64(c) / float64(total)}
	}
	// Trim the empty bins at both ends.
	first, last := 0, len(out)-1
	for first < last && out[first].pct == 0 {
		first++
	}
	for last > first && out[last].pct == 0 {
		last--
	}
	return out[first : last+1], true
}

// histogramPlot is, per request kind, the share of its requests per latency bin, on a
// log-scale ms axis.
func histogramPlot(label string, r *load.Result) (*plot.Plot, error) {
	p := newPlot(label+": latency histogram", "latency (ms, log scale)", "% of the kind's requests")
	drawn, entries := false, 0
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i, op := range load.Ops {
		for _, s := range r.Ops {
			if s.Op != op || s.Count <= 0 {
				continue
			}
			bs, ok := bins(s)
			if !ok {
				continue
			}
			xys := make(plotter.XYs, 0, len(bs)+3)
			xys = append(xys, plotter.XY{X: bs[0].lo, Y: 0})
			for _, b := range bs {
				xys = append(xys, plotter.XY{X: b.lo, Y: b.pct})
			}
			end := bs[len(bs)-1].hi
			xys = append(xys, plotter.XY{X: end, Y: bs[len(bs)-1].pct}, plotter.XY{X: end, Y: 0})
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			l.StepStyle = plotter.PostStep
			l.LineStyle.Color = palette(i)
			l.LineStyle.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s (%s)", op, count(s.Count)), l)
			minX, maxX = math.Min(minX, bs[0].lo), math.Max(maxX, end)
			drawn = true
			entries++
			break
		}
	}
	if !drawn {
		return nil, nil
	}
	if maxX <= minX {
		maxX = minX * 10
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	p.X.Min, p.X.Max = minX, maxX
	p.Y.Min = 0
	makeRoom(p, entries)
	return p, nil
}

// compareThroughput is every target's holds/s per second, in one chart.
func compareThroughput(g scenarioGroup, colors map[string]color.Color) (*plot.Plot, error) {
	var ss []*series
	for _, r := range g.results {
		s := &series{name: r.Target, color: colors[r.Target]}
		prev := math.MinInt
		for _, sec := range timeline(r) {
			s.add(float64(sec.T), float64(sec.Holds), sec.T != prev+1)
			prev = sec.T
		}
		ss = append(ss, s)
	}
	p := newPlot(g.name+": holds/s per target", "time (s)", "holds/s")
	drawn, err := addSeries(p, ss)
	if err != nil || !drawn {
		return nil, err
	}
	p.Y.Min = math.Min(0, p.Y.Min)
	makeRoom(p, legendEntries(ss))
	return p, nil
}

// compareP99 is every target's hold p99 per second, in one chart (log scale when they
// differ by more than 100×).
func compareP99(g scenarioGroup, colors map[string]color.Color) (*plot.Plot, error) {
	var ss []*series
	for _, r := range g.results {
		s := &series{name: r.Target, color: colors[r.Target]}
		prev := math.MinInt
		for _, sec := range timeline(r) {
			if sec.Holds <= 0 {
				continue
			}
			s.add(float64(sec.T), sec.HoldP99, sec.T != prev+1)
			prev = sec.T
		}
		ss = append(ss, s)
	}
	p := newPlot(g.name+": hold p99 per second, per target", "time (s)", "hold p99 (ms)")
	return latencySeries(p, ss)
}

// latencySeries draws latency series on p, the y axis on a log scale when the values
// span more than 100× (the values a log scale cannot show, 0 and below, are left out),
// else from 0. The plot is nil when there is nothing to draw.
func latencySeries(p *plot.Plot, ss []*series) (*plot.Plot, error) {
	var all []float64
	for _, s := range ss {
		all = append(all, s.values()...)
	}
	logY := logWorthy(all)
	if logY {
		for _, s := range ss {
			for i, seg := range s.segments {
				s.segments[i] = slices.DeleteFunc(slices.Clone(seg), func(xy plotter.XY) bool { return xy.Y <= 0 })
			}
		}
	}
	drawn, err := addSeries(p, ss)
	if err != nil || !drawn {
		return nil, err
	}
	if !logY {
		p.Y.Min = math.Min(0, p.Y.Min)
		makeRoom(p, legendEntries(ss))
		return p, nil
	}
	lo, hi := math.Inf(1), 0.0
	for _, v := range all {
		if v > 0 && finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Label.Text += " (log scale)"
	makeRoom(p, legendEntries(ss))
	return p, nil
}

// legendEntries counts the series that are drawn.
func legendEntries(ss []*series) int {
	n := 0
	for _, s := range ss {
		if !s.empty() {
			n++
		}
	}
	return n
}

// logWorthy is true when the positive values span more than 100×.
func logWorthy(vs []float64) bool {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vs {
		if v > 0 && finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	return hi > 0 && hi/lo > 100
}

// logTicks marks a log axis: 1, 2 and 5 of each decade labelled, the other digits
// unlabelled (every mark labelled when that leaves fewer than two labels).
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) || !finite(min) || !finite(max) {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	var ticks []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		base := math.Pow(10, e)
		for m := 1.0; m <= 9; m++ {
			v := base * m
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = tickLabel(v)
				labelled++
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 2 {
		for i := range ticks {
			ticks[i].Label = tickLabel(ticks[i].Value)
		}
		if len(ticks) < 2 {
			return plot.DefaultTicks{}.Ticks(min, max)
		}
	}
	return ticks
}

// tickLabel writes v with at most 6 significant digits and no exponent.
func tickLabel(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
