package termsafe

import "testing"

func TestText(t *testing.T) {
	tests := map[string]string{
		"Verification code: ":                     "Verification code: ",
		"\x1b]0;PWNED\a\n\x1b[2J\n\x1b[31mcode: ": "\n\ncode: ",
		"line one\r\nline two\u202e":              "line one\nline two",
		"tab\there\x00":                           "tab here",
	}
	for in, want := range tests {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
		if got := Line(in); got != Line(want) {
			t.Errorf("Line(%q) = %q, want %q", in, got, Line(want))
		}
	}
	if got := Line("a\nb"); got != "ab" {
		t.Errorf("Line keeps a line break: %q", got)
	}
}
