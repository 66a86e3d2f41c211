package metrics

// AdminLogin is how one admin UI login with a password ended.
type AdminLogin uint8

// Admin UI login results, with their label values. Only AdminLoginOK and
// AdminLoginFailed ran a bcrypt comparison.
const (
	AdminLoginOK      AdminLogin = iota // "ok": the password matched
	AdminLoginFailed                    // "failed": compared, did not match
	AdminLoginLimited                   // "limited": refused uncompared, too many failures (per address or in all)
	AdminLoginBusy                      // "busy": refused uncompared, no comparison slot in time
	numAdminLogins
)

var adminLoginLabels = [numAdminLogins]string{"ok", "failed", "limited", "busy"}

func (a AdminLogin) String() string { return adminLoginLabels[a] }

// AdminLogins lists every result, for exporters.
func AdminLogins() []AdminLogin {
	out := make([]AdminLogin, numAdminLogins)
	for i := range out {
		out[i] = AdminLogin(i)
	}
	return out
}

// AdminLoginDone counts one admin UI login result.
func (s *Set) AdminLoginDone(r AdminLogin) {
	if s != nil && r < numAdminLogins {
		s.adminLogins[r].Add(1)
	}
}
