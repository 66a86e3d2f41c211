package metrics

import "strconv"

// APIEndpoint is an endpoint of the HTTP server API (package httpapi).
type APIEndpoint uint8

// API endpoints, with their label values (the path after /api/v1/).
const (
	APIEmit       APIEndpoint = iota // "emit"
	APIPublish                       // "publish"
	APIJoin                          // "join"
	APILeave                         // "leave"
	APIDisconnect                    // "disconnect"
	APISockets                       // "sockets"
	APIHistory                       // "history"
	APIPresence                      // "presence"
	APIOther                         // "other": no such endpoint
	numAPIEndpoints
)

var apiEndpointLabels = [numAPIEndpoints]string{"emit", "publish", "join", "leave", "disconnect", "sockets", "history", "presence", "other"}

func (e APIEndpoint) String() string { return apiEndpointLabels[e] }

// APIEndpointOf is the endpoint named name ("emit"), APIOther for none.
func APIEndpointOf(name string) APIEndpoint {
	for i, l := range apiEndpointLabels[:APIOther] {
		if l == name {
			return APIEndpoint(i)
		}
	}
	return APIOther
}

// APIEndpoints lists every endpoint, for exporters.
func APIEndpoints() []APIEndpoint {
	out := make([]APIEndpoint, numAPIEndpoints)
	for i := range out {
		out[i] = APIEndpoint(i)
	}
	return out
}

// apiStatuses are the statuses the API answers with, counted each apart;
// any other counts as the last, "other".
var apiStatuses = [...]int{200, 400, 401, 404, 405, 410, 413, 429, 503, 0}

const numAPIStatuses = len(apiStatuses)

// APIStatuses lists the status labels ("200", ..., "other"), in the
// order of Snapshot.APIRequests' second index.
func APIStatuses() []string {
	out := make([]string, numAPIStatuses)
	for i, st := range apiStatuses {
		out[i] = strconv.Itoa(st)
	}
	out[numAPIStatuses-1] = "other"
	return out
}

// APIRequest counts one API request to ep answered with status.
func (s *Set) APIRequest(ep APIEndpoint, status int) {
	if s == nil || ep >= numAPIEndpoints {
		return
	}
	i := numAPIStatuses - 1
	for j, st := range apiStatuses[:numAPIStatuses-1] {
		if st == status {
			i = j
			break
		}
	}
	s.apiRequests[ep][i].Add(1)
}
