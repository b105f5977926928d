package widget

import "sync"

// Event kinds the console follows live (Gateway.Subscribe).
const (
	// EventChanged: a conversation in the inbox changed (it began waiting
	// for a person, was taken, handed back or closed, or got a message
	// while a person waits for or holds it).
	EventChanged = "changed"
	// EventTyping: someone types in a conversation a person holds.
	EventTyping = "typing"
	// EventGoal: a conversation reached a goal (a lead).
	EventGoal = "goal"
)

// Event is a change of a live conversation, for the console's inbox and
// the agents' email.
type Event struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	Site    string `json:"site"`
	Visitor string `json:"visitor,omitempty"`
	// Status is the hand-over after the change: waiting, held, or "" for
	// none (handed back, closed, timed out).
	Status string `json:"status,omitempty"`
	From   string `json:"from,omitempty"`  // typing: visitor or agent
	Agent  string `json:"agent,omitempty"` // typing, changed: the agent's sign-in name
	Goal   string `json:"goal,omitempty"`  // goal: its name
	// Remote: the event happened on another node (several nodes), whose
	// own subscribers act on it (the agents' email, say).
	Remote bool `json:"-"`
}

// eventQueue is how many events a subscriber may fall behind before it
// misses some; the console then reloads what it shows.
const eventQueue = 256

// events fans conversation events out to subscribers without ever
// blocking a turn: a subscriber whose queue is full misses the event.
type events struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
	// cluster sends this node's events to the others; nil alone.
	cluster *cluster
}

// Subscribe returns a channel of the gateway's conversation events and a
// function that ends the subscription (and closes the channel).
func (g *Gateway) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, eventQueue)
	e := &g.events
	e.mu.Lock()
	if e.subs == nil {
		e.subs = map[chan Event]struct{}{}
	}
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, ch)
			e.mu.Unlock()
			close(ch)
		})
	}
}

func (e *events) publish(ev Event) {
	if e.cluster != nil && !ev.Remote {
		e.cluster.publishEvent(ev)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
