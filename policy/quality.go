package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Quality is path selection by measured quality: a path (a local address
// with subflows) that meets BackupWhen is made backup; after RestoreAfter
// it is made active again on trial, and demoted again (with RestoreAfter
// doubled, up to MaxRestoreAfter) if it still meets the condition.
type Quality struct {
	BackupWhen      Condition `json:"backup_when"` // empty: path selection off
	RestoreAfter    Duration  `json:"restore_after"`
	MaxRestoreAfter Duration  `json:"max_restore_after"`
	// Prefer ranks paths when all of them meet BackupWhen: the best one by
	// this metric ("rtt", "loss" or "rate") stays active.
	Prefer   string   `json:"prefer"`
	Interval Duration `json:"interval"` // how often subflows are measured
}

// Enabled reports whether path selection by quality is on.
func (q Quality) Enabled() bool { return len(q.BackupWhen.Any) > 0 }

// DefaultQuality is the quality section without a [quality] table (off).
var DefaultQuality = Quality{RestoreAfter: Duration(10 * time.Second), MaxRestoreAfter: Duration(2 * time.Minute),
	Prefer: "rtt", Interval: Duration(500 * time.Millisecond)}

// Metrics a condition may test.
const (
	MetricLoss = "loss" // retransmitted segments / segments sent, in percent
	MetricRTT  = "rtt"  // smoothed RTT of the path's subflows
	MetricRate = "rate" // delivery rate, bits per second
)

// Clause is one comparison: Metric Op Value [for For].
type Clause struct {
	Metric string        `json:"metric"`
	Op     string        `json:"op"`    // ">" or "<"
	Value  float64       `json:"value"` // loss: percent; rtt: seconds; rate: bit/s
	For    time.Duration `json:"for"`   // how long it must hold
}

// Holds reports whether the clause holds for a measured value.
func (c Clause) Holds(v float64) bool {
	if c.Op == ">" {
		return v > c.Value
	}
	return v < c.Value
}

// Condition is clauses joined by `or` of `and` groups (and binds tighter).
type Condition struct {
	Text string     `json:"-"`
	Any  [][]Clause `json:"-"`
}

// MarshalJSON writes the condition as it was written.
func (c Condition) MarshalJSON() ([]byte, error) { return json.Marshal(c.Text) }

type rawQuality struct {
	BackupWhen      *string `toml:"backup_when"`
	RestoreAfter    *string `toml:"restore_after"`
	MaxRestoreAfter *string `toml:"max_restore_after"`
	Prefer          *string `toml:"prefer"`
	Interval        *string `toml:"interval"`
}

func parseQuality(raw *rawQuality, p *Policy, fail func(key, msg, fix string), _ lineIndex) {
	p.Quality = DefaultQuality
	if raw == nil {
		return
	}
	q := &p.Quality
	if raw.BackupWhen == nil {
		fail("quality", "[quality] has no backup_when: path selection would stay off", `add e.g. backup_when = "loss > 2% for 3s", or remove [quality]`)
	}
	if raw.BackupWhen != nil {
		c, err := ParseCondition(*raw.BackupWhen)
		if err != nil {
			fail("quality.backup_when", "quality.backup_when: "+err.Error(), conditionFix)
		} else {
			q.BackupWhen = c
		}
	}
	dur := func(key string, s *string, dst *Duration) {
		if s == nil {
			return
		}
		v, err := time.ParseDuration(*s)
		if err != nil || v <= 0 {
			fail("quality."+key, fmt.Sprintf("quality.%s: %q is not a positive duration", key, *s), `write it like "500ms", "10s" or "2m"`)
			return
		}
		*dst = Duration(v)
	}
	dur("restore_after", raw.RestoreAfter, &q.RestoreAfter)
	dur("max_restore_after", raw.MaxRestoreAfter, &q.MaxRestoreAfter)
	dur("interval", raw.Interval, &q.Interval)
	if q.Interval < Duration(50*time.Millisecond) {
		fail("quality.interval", fmt.Sprintf("quality.interval: %s is too short", time.Duration(q.Interval)), "measure at most every 50ms")
	}
	if q.RestoreAfter > q.MaxRestoreAfter {
		fail("quality.max_restore_after", fmt.Sprintf("quality: max_restore_after %s is below restore_after %s", time.Duration(q.MaxRestoreAfter), time.Duration(q.RestoreAfter)),
			"make max_restore_after at least restore_after")
	}
	if raw.Prefer != nil {
		switch *raw.Prefer {
		case MetricRTT, MetricLoss, MetricRate:
			q.Prefer = *raw.Prefer
		default:
			fail("quality.prefer", fmt.Sprintf("quality.prefer = %q is not known", *raw.Prefer), `use "rtt" (lowest), "loss" (lowest) or "rate" (highest)`)
		}
	}
}

const conditionFix = `write clauses like "loss > 2% for 3s", "rtt > 150ms for 2s" or "rate < 1mbit for 5s", joined by "or"/"and"`

// ParseCondition parses a quality condition:
//
//	condition = group { "or" group }
//	group     = clause { "and" clause }
//	clause    = metric (">" | "<") value [ "for" duration ]
//	metric    = "loss" | "rtt" | "rate"
//	value     = loss: a percentage ("2%"); rtt: a duration ("150ms");
//	            rate: a number with bit, kbit, mbit or gbit ("5mbit")
//
// Errors name the word (by its position) that is wrong.
func ParseCondition(s string) (Condition, error) {
	words := tokenize(s)
	if len(words) == 0 {
		return Condition{}, fmt.Errorf("empty condition")
	}
	c := Condition{Text: s}
	var group []Clause
	i := 0
	at := func(i int) string {
		if i >= len(words) {
			return "at the end"
		}
		return fmt.Sprintf("at word %d %q", i+1, words[i])
	}
	for {
		if i+3 > len(words) {
			return Condition{}, fmt.Errorf("%s: a clause needs a metric, < or > and a value", at(i))
		}
		cl := Clause{Metric: words[i], Op: words[i+1]}
		switch cl.Metric {
		case MetricLoss, MetricRTT, MetricRate:
		default:
			return Condition{}, fmt.Errorf("%s: unknown metric (metrics: loss, rtt, rate)", at(i))
		}
		if cl.Op != ">" && cl.Op != "<" {
			return Condition{}, fmt.Errorf("%s: expected > or <", at(i+1))
		}
		v, err := parseValue(cl.Metric, words[i+2])
		if err != nil {
			return Condition{}, fmt.Errorf("%s: %v", at(i+2), err)
		}
		cl.Value = v
		i += 3
		if i < len(words) && words[i] == "for" {
			if i+1 >= len(words) {
				return Condition{}, fmt.Errorf("%s: `for` needs a duration", at(i+1))
			}
			d, err := time.ParseDuration(words[i+1])
			if err != nil || d < 0 {
				return Condition{}, fmt.Errorf("%s: not a duration (write it like 3s or 500ms)", at(i+1))
			}
			cl.For = d
			i += 2
		}
		group = append(group, cl)
		if i == len(words) {
			c.Any = append(c.Any, group)
			return c, nil
		}
		switch words[i] {
		case "and":
		case "or":
			c.Any = append(c.Any, group)
			group = nil
		default:
			return Condition{}, fmt.Errorf("%s: expected `for`, `and`, `or` or the end", at(i))
		}
		i++
	}
}

// tokenize splits on spaces and around < and >.
func tokenize(s string) []string {
	s = strings.NewReplacer(">", " > ", "<", " < ").Replace(s)
	return strings.Fields(s)
}

func parseValue(metric, w string) (float64, error) {
	switch metric {
	case MetricLoss:
		n, ok := strings.CutSuffix(w, "%")
		v, err := strconv.ParseFloat(n, 64)
		if !ok || err != nil || v < 0 || v > 100 {
			return 0, fmt.Errorf("loss is a percentage 0%%..100%% (like 2%%)")
		}
		return v, nil
	case MetricRTT:
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("rtt is a duration (like 150ms)")
		}
		return d.Seconds(), nil
	default:
		lw := strings.ToLower(w)
		for _, u := range []struct {
			suffix string
			mult   float64
		}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
			if n, ok := strings.CutSuffix(lw, u.suffix); ok {
				v, err := strconv.ParseFloat(n, 64)
				if err == nil && v >= 0 {
					return v * u.mult, nil
				}
				break
			}
		}
		return 0, fmt.Errorf("rate is a number with bit, kbit, mbit or gbit (like 5mbit)")
	}
}

// Summary is one line for `--check-config`.
func (q Quality) Summary() string {
	if !q.Enabled() {
		return "path selection by quality: off\n"
	}
	return fmt.Sprintf("path selection: backup when %s (measured every %v); retried after %v, up to %v; prefer %s\n",
		q.BackupWhen.Text, time.Duration(q.Interval), time.Duration(q.RestoreAfter), time.Duration(q.MaxRestoreAfter), q.Prefer)
}
