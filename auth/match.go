package auth

// Patterns is a list of name patterns: '*' matches any run of bytes
// (slashes and dots included), every other byte matches itself. An empty
// list matches nothing; use "*" for everything. The flags' lists are split
// by config (config.SplitList).
type Patterns []string

// Match reports whether name matches any pattern.
func (p Patterns) Match(name string) bool {
	for _, pat := range p {
		if glob(pat, name) {
			return true
		}
	}
	return false
}

// glob matches name against one pattern, '*' being the only wildcard.
// Backtracking only to the last star keeps it O(len(pat)*len(name)).
func glob(pat, name string) bool {
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		switch {
		case p < len(pat) && pat[p] == '*':
			starP, starN = p, n
			p++
		case p < len(pat) && pat[p] == name[n]:
			p++
			n++
		case starP >= 0:
			starN++
			p, n = starP+1, starN
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
