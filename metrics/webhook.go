package metrics

// WebhookOutcome is what became of one webhook event or delivery attempt.
type WebhookOutcome uint8

// Webhook outcomes, with their label values.
const (
	WebhookDelivered WebhookOutcome = iota // "delivered": a receiver answered 2xx
	WebhookFailed                          // "failed": an attempt failed (error, timeout, non-2xx); it is retried
	WebhookExpired                         // "expired": given up, older than --webhook-max-age
	WebhookNotStored                       // "not_stored": the event could not be stored for delivery
	numWebhookOutcomes
)

var webhookLabels = [numWebhookOutcomes]string{"delivered", "failed", "expired", "not_stored"}

// String is the outcome's label value.
func (o WebhookOutcome) String() string { return webhookLabels[o] }

// WebhookOutcomes lists every outcome, for exporters.
func WebhookOutcomes() []WebhookOutcome {
	out := make([]WebhookOutcome, numWebhookOutcomes)
	for i := range out {
		out[i] = WebhookOutcome(i)
	}
	return out
}

// Webhook counts one webhook outcome.
func (s *Set) Webhook(o WebhookOutcome) {
	if s == nil || o >= numWebhookOutcomes {
		return
	}
	s.webhooks[o].Add(1)
}
