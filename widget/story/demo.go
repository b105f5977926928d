package story

import _ "embed"

//go:embed demo.json
var demoJSON []byte

// Demo returns the built-in demo story that `parley serve` runs when no
// config names another: it greets, offers choices, asks for a first name,
// an email, a phone number and optionally a file, reaches the goal "lead"
// and ends.
func Demo() *Story {
	s, err := Parse(demoJSON)
	if err != nil {
		panic("story: built-in demo story is invalid: " + err.Error())
	}
	return s
}
