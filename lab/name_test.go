package lab

import "testing"

// TestCheckName pins the lab-name rule (`^[a-z0-9]{1,8}$`) now that it is
// checked without a regexp.
func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "demo": true, "abc12345": true, "0": true,
		"": false, "abc123456": false, "Demo": false, "a-b": false, "a_b": false,
		"a b": false, "é": false, "a\n": false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
