package report

import (
	"math"
	"strconv"
	"strings"
)

// count formats an integer with thousands separators: 12345 -> "12,345".
func count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rate formats a per-second rate: whole numbers with separators from 100 up, three
// significant digits below.
func rate(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case math.Abs(x) >= 100:
		return count(int(math.Round(x)))
	case x == 0:
		return "0"
	default:
		return sig3(x)
	}
}

// ms formats milliseconds as rate formats rates: 2 to 3 significant digits, whole
// numbers from 100 up.
func ms(x float64) string { return rate(x) }

// times formats a ratio: "3.97×", "120×", "0.25×"; "–" when undefined (0).
func times(x float64) string {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	if math.Abs(x) >= 100 {
		return count(int(math.Round(x))) + "×"
	}
	return sig3(x) + "×"
}

// seconds formats a duration in seconds with up to 3 significant digits.
func seconds(x float64) string {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	if math.Abs(x) >= 100 {
		return count(int(math.Round(x)))
	}
	return sig3(x)
}

// sig3 writes x (0 < |x| < 100) with 3 significant digits, trailing zeros dropped:
// 12.34 -> "12.3", 3.6 -> "3.6", 0.01234 -> "0.0123".
func sig3(x float64) string {
	s := strconv.FormatFloat(x, 'f', decimals(x, 3), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// decimals is the number of decimals that shows x (0 < |x| < 100) with sig significant
// digits, trailing zeros aside.
func decimals(x float64, sig int) int {
	d := sig - 1 - int(math.Floor(math.Log10(math.Abs(x))))
	if d < 0 {
		return 0
	}
	return d
}

// mdEscape makes s safe inside a Markdown table cell or a line of text.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// slug makes a name safe for a file name: letters, digits, '.', '_' and '-' are kept,
// anything else becomes '_'.
func slug(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		return "unnamed"
	}
	return out
}

// finite is true for a number that is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
