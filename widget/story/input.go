package story

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// InputOptions tune input validation for a site.
type InputOptions struct {
	// PhoneRegion is the ISO 3166 region assumed for phone numbers typed
	// without a country code ("DE"); empty requires a leading +.
	PhoneRegion string
	// MaxText caps a text answer in characters (0: 2000).
	MaxText int
}

// ValidateInput checks value for an input kind and returns it normalised:
// trimmed text, the bare email address, a phone number in E.164.
func ValidateInput(kind, value string, opts InputOptions) (string, error) {
	value = strings.TrimSpace(value)
	max := opts.MaxText
	if max <= 0 {
		max = 2000
	}
	if utf8.RuneCountInString(value) > max {
		return "", &Error{"text_too_long", "That answer is too long."}
	}
	switch kind {
	case InputEmail:
		addr, err := mail.ParseAddress(value)
		// Only a bare address counts: "Ann <a@b.org>" or a domain without a dot is refused.
		if err != nil || addr.Address != value || !strings.Contains(value[strings.LastIndexByte(value, '@'):], ".") {
			return "", &Error{"invalid_email", "That doesn't look like an email address."}
		}
		return addr.Address, nil
	case InputPhone:
		num, err := phonenumbers.Parse(value, opts.PhoneRegion)
		if err != nil || !phonenumbers.IsValidNumber(num) {
			return "", &Error{"invalid_phone", "That doesn't look like a phone number."}
		}
		return phonenumbers.Format(num, phonenumbers.E164), nil
	default:
		if value == "" {
			return "", &Error{"invalid_text", "Please type an answer."}
		}
		return value, nil
	}
}
