package socketio

import "encoding/json"

// tokenFromAuth reads auth.token from a CONNECT payload.
func tokenFromAuth(auth json.RawMessage) string {
	var a struct {
		Token any `json:"token"`
	}
	if json.Unmarshal(auth, &a) != nil {
		return ""
	}
	t, _ := a.Token.(string)
	return t
}
