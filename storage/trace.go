package storage

// Step is one thing the story did on its way to a bot message: a block it
// passed, with what decided there. A bot message's Trace holds the steps
// since the message before it (the visitor's, or the bot's previous one
// of the same turn), so a transcript shows why the bot said what it said.
type Step struct {
	Block string `json:"block"`
	Kind  string `json:"kind"` // the block's kind: message, choice, input, upload, condition, goal, tag, end

	// Variable and Value: on a condition, the variable tested and its
	// value then; on an input or upload answered, the variable set and
	// its new value; on a choice answered, the option's label.
	Variable string `json:"variable,omitempty"`
	Value    string `json:"value,omitempty"`

	Op     string `json:"op,omitempty"`     // condition: set, equals or matches
	Want   string `json:"want,omitempty"`   // condition: the value or pattern compared with
	Branch string `json:"branch,omitempty"` // condition: then or else, as it held or not
	Next   string `json:"next,omitempty"`   // the block it went on to, where it branched or was answered

	Goal string `json:"goal,omitempty"` // goal: the goal reached
	Tag  string `json:"tag,omitempty"`  // tag: the tag set

	// Answered: the visitor's action answered this block (the first step
	// of a turn). Again: the block's question, still open, was asked
	// again. After: the step ran after the message it is stored on,
	// before the turn ended (a goal or an end after the last message).
	Answered bool `json:"answered,omitempty"`
	Again    bool `json:"again,omitempty"`
	After    bool `json:"after,omitempty"`
}

// Steps spelled as Branch.
const (
	BranchThen = "then"
	BranchElse = "else"
)
