package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ticketview/ticketview/bench/load"
)

// Write writes the report into dir (created if needed) and returns the paths written:
// results.json (the Run as given, indented; fill Run.Compared with Compare first to have
// the ratios in it), the PNG plots, and summary.md (see Markdown).
//
// Plots, per result: "<scenario>-<target>-latency.png" (hold p50 and p99 per second),
// "<scenario>-<target>-throughput.png" (holds/s, sales/s, arrivals/s) and
// "<scenario>-<target>-histogram.png" (per request kind, log-scale ms); per scenario:
// "<scenario>-compare-throughput.png" and "<scenario>-compare-p99.png" with every target.
// A plot without data is not written (summary.md says "no data"). Names are made
// file-safe.
func Write(dir string, run load.Run) ([]string, error) {
	if dir == "" {
		return nil, errors.New("report: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var written []string

	js, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: encode results.json: %w", err)
	}
	path := filepath.Join(dir, "results.json")
	if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	written = append(written, path)

	var errs []error
	charts := planCharts(run)
	for _, sc := range charts {
		var all []chart
		for _, rc := range sc.results {
			all = append(all, rc.charts...)
		}
		for _, c := range append(all, sc.compare...) {
			switch {
			case c.err != nil:
				errs = append(errs, c.err)
			case c.p != nil:
				path := filepath.Join(dir, c.file)
				if err := savePNG(c.p, path); err != nil {
					errs = append(errs, err)
					continue
				}
				written = append(written, path)
			}
		}
	}

	path = filepath.Join(dir, "summary.md")
	if err := os.WriteFile(path, []byte(markdown(run, charts)), 0o644); err != nil {
		errs = append(errs, err)
	} else {
		written = append(written, path)
	}
	if err := errors.Join(errs...); err != nil {
		return written, fmt.Errorf("report: %w", err)
	}
	return written, nil
}
