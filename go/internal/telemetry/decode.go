package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Line is one telemetry line as a reader decodes it; a metric's value stays
// raw until asked for as a Number or a Histogram.
type Line struct {
	SchemaVersion int                        `json:"schema_version"`
	Runtime       string                     `json:"runtime"`
	Seq           uint64                     `json:"seq"`
	TUnixMs       float64                    `json:"t_unix_ms"`
	Metrics       map[string]json.RawMessage `json:"metrics"`
}

// Histogram is a histogram value: counts[i] events in [bounds[i],
// bounds[i+1]); a nil bound is infinite.
type Histogram struct {
	Unit   string     `json:"unit"`
	Bounds []*float64 `json:"bounds"`
	Counts []uint64   `json:"counts"`
}

// ParseLine decodes one line strictly: no unknown keys, schema version 1.
func ParseLine(text []byte) (Line, error) {
	var l Line
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return l, err
	}
	if l.SchemaVersion != SchemaVersion {
		return l, fmt.Errorf("schema_version %d, want %d", l.SchemaVersion, SchemaVersion)
	}
	return l, nil
}

// Number is the named counter or gauge.
func (l Line) Number(name string) (float64, error) {
	var x float64
	if err := json.Unmarshal(l.Metrics[name], &x); err != nil {
		return 0, fmt.Errorf("%s: not a number: %.80s", name, l.Metrics[name])
	}
	return x, nil
}

// Histogram is the named histogram, checked to have one more bound than
// counts.
func (l Line) Histogram(name string) (Histogram, error) {
	var h Histogram
	if err := json.Unmarshal(l.Metrics[name], &h); err != nil {
		return h, fmt.Errorf("%s: not a histogram: %.80s", name, l.Metrics[name])
	}
	if len(h.Counts) == 0 || len(h.Bounds) != len(h.Counts)+1 {
		return h, fmt.Errorf("%s: %d bounds for %d counts, want one more bound than counts (and a count)", name, len(h.Bounds), len(h.Counts))
	}
	return h, nil
}
