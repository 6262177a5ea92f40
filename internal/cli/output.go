package cli

import "encoding/json"

// labJSON writes v as indented JSON, as lab's and version's -j output is.
func labJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
