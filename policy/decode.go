package policy

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// decodeRaw turns the generic decoding of a policy file into rawFile,
// checking every key and the type of every value itself (go-toml stops at
// the first value of the wrong type) and appending one *Error per problem
// to errs. A key with a value of the wrong type is left unset.
func decodeRaw(name string, doc map[string]any, lines lineIndex, errs *[]error) rawFile {
	d := decoder{name: name, lines: lines, errs: errs}
	var raw rawFile
	for _, k := range sortedKeys(doc) {
		v := doc[k]
		switch k {
		case "version":
			if n, ok := v.(int64); ok {
				raw.Version = &n
			} else {
				d.typeErr(k, k, "an integer", v, "write `version = 1`")
			}
		case "owner":
			if s, ok := v.(string); ok {
				raw.Owner = &s
			} else {
				d.typeErr(k, k, "a string", v, `use "created" or "all"`)
			}
		case "remove_on_exit":
			raw.RemoveOnExit = d.boolean(k, k, v)
		case "coexist":
			raw.Coexist = d.boolean(k, k, v)
		case "limits":
			t, ok := v.(map[string]any)
			if !ok {
				d.typeErr(k, k, "a table ([limits])", v, "write the limits under a [limits] header")
				continue
			}
			raw.Limits = &rawLimits{}
			for _, lk := range sortedKeys(t) {
				switch lk {
				case "subflows":
					raw.Limits.Subflows = t[lk]
				case "add_addr_accepted":
					raw.Limits.AddAddrAccepted = t[lk]
				default:
					d.unknown("limits", "limits."+lk, "limits."+lk)
				}
			}
		case "addresses":
			t, ok := v.(map[string]any)
			if !ok {
				d.typeErr(k, k, "a table ([addresses])", v, "write the address filter under an [addresses] header")
				continue
			}
			a := &rawFilter{}
			raw.Addresses = a
			for _, ak := range sortedKeys(t) {
				key := "addresses." + ak
				var dst **bool
				switch ak {
				case "skip_loopback":
					dst = &a.SkipLoopback
				case "skip_link_local":
					dst = &a.SkipLinkLocal
				case "skip_ula":
					dst = &a.SkipULA
				case "skip_temporary":
					dst = &a.SkipTemporary
				case "require_default_route":
					dst = &a.RequireDefaultRoute
				default:
					d.unknown("addresses", key, key)
					continue
				}
				*dst = d.boolean(key, key, t[ak])
			}
		case "damping":
			t, ok := v.(map[string]any)
			if !ok {
				d.typeErr(k, k, "a table ([damping])", v, "write the damping settings under a [damping] header")
				continue
			}
			raw.Damping = &rawDamping{}
			d.strings("damping", t, map[string]**string{
				"hold_down": &raw.Damping.HoldDown, "max_hold_down": &raw.Damping.MaxHoldDown, "decay": &raw.Damping.Decay,
			})
		case "quality":
			t, ok := v.(map[string]any)
			if !ok {
				d.typeErr(k, k, "a table ([quality])", v, "write the quality settings under a [quality] header")
				continue
			}
			q := &rawQuality{}
			raw.Quality = q
			d.strings("quality", t, map[string]**string{
				"backup_when": &q.BackupWhen, "restore_after": &q.RestoreAfter, "max_restore_after": &q.MaxRestoreAfter,
				"prefer": &q.Prefer, "interval": &q.Interval,
			})
		case "rule":
			list, ok := v.([]any)
			if !ok {
				d.typeErr(k, k, "[[rule]] tables", v, "start each rule with a [[rule]] header")
				continue
			}
			for i, x := range list {
				t, ok := x.(map[string]any)
				if !ok {
					d.typeErr(k, k, "[[rule]] tables", x, "start each rule with a [[rule]] header")
					continue
				}
				raw.Rules = append(raw.Rules, d.rule(i, t))
			}
		default:
			d.unknown("", k, k)
		}
	}
	return raw
}

type decoder struct {
	name  string
	lines lineIndex
	errs  *[]error
}

// typeErr reports that the value at key (a dotted path for the line
// index; shown is how to name it) is not of the type wanted.
func (d *decoder) typeErr(key, shown, want string, v any, fix string) {
	*d.errs = append(*d.errs, &Error{File: d.name, Line: d.lines.line(key),
		Msg: fmt.Sprintf("%s must be %s, not %s", shown, want, typeName(v)), Fix: fix})
}

func (d *decoder) unknown(table, key, shown string) {
	where, known := "at the top level", knownKeys[table]
	switch table {
	case "":
	case "rule":
		where = "in [[rule]]"
	default:
		where = "in [" + table + "]"
	}
	*d.errs = append(*d.errs, &Error{File: d.name, Line: d.lines.line(key),
		Msg: fmt.Sprintf("unknown key %q %s", shown, where), Fix: "known keys: " + known})
}

func (d *decoder) boolean(key, shown string, v any) *bool {
	b, ok := v.(bool)
	if !ok {
		d.typeErr(key, shown, "true or false", v, "write true or false, without quotes")
		return nil
	}
	return &b
}

func (d *decoder) str(key, shown string, v any) string {
	s, ok := v.(string)
	if !ok {
		d.typeErr(key, shown, "a string", v, "put the value in double quotes")
	}
	return s
}

// strings decodes a table of string-valued keys into dst (key -> field),
// reporting unknown keys and values that are not strings.
func (d *decoder) strings(table string, t map[string]any, dst map[string]**string) {
	for _, k := range sortedKeys(t) {
		key := table + "." + k
		f, ok := dst[k]
		if !ok {
			d.unknown(table, key, key)
			continue
		}
		if s, ok := t[k].(string); ok {
			*f = &s
		} else {
			d.typeErr(key, key, "a string", t[k], "put the value in double quotes")
		}
	}
}

// rule decodes the i-th [[rule]] table.
func (d *decoder) rule(i int, t map[string]any) rawRule {
	var r rawRule
	base := "rule." + strconv.Itoa(i)
	who := fmt.Sprintf("rule %d", i+1)
	if n, ok := t["name"].(string); ok && n != "" {
		who = fmt.Sprintf("rule %q", n)
	}
	for _, k := range sortedKeys(t) {
		v, key, shown := t[k], base+"."+k, who+": "+k
		switch k {
		case "name":
			r.Name = d.str(key, shown, v)
		case "interface":
			r.Interface = d.str(key, shown, v)
		case "kind":
			r.Kind = d.str(key, shown, v)
		case "ignore":
			if b := d.boolean(key, shown, v); b != nil {
				r.Ignore = *b
			}
		case "flags":
			r.Flags = []string{} // present, even if wrong: not "neither flags nor ignore"
			list, ok := v.([]any)
			if !ok {
				d.typeErr(key, shown, "an array of names", v, `write e.g. flags = ["subflow"]`)
				continue
			}
			for _, x := range list {
				s, ok := x.(string)
				if !ok {
					d.typeErr(key, shown+" entry", "a string", x, `write e.g. flags = ["subflow", "backup"]`)
					continue
				}
				r.Flags = append(r.Flags, s)
			}
		case "ports":
			list, ok := v.([]any)
			if !ok {
				d.typeErr(key, shown, "an array of port numbers", v, "write e.g. ports = [22, 443]")
				continue
			}
			for _, x := range list {
				n, ok := x.(int64)
				if !ok {
					d.typeErr(key, shown+" entry", "an integer", x, "write e.g. ports = [22, 443]")
					continue
				}
				r.Ports = append(r.Ports, n)
			}
		default:
			d.unknown("rule", key, "rule."+k)
		}
	}
	return r
}

func typeName(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a float (%v)", x)
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("a %T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
