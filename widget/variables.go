package widget

import (
	"fmt"
	"maps"

	"github.com/parley-chat/parley/storage"
)

// mergeHostVariables merges a variables frame into st.HostVariables. A
// frame that would leave the session with more than Config.HostVariables
// names, or more than Config.HostVariableBytes of names and values in all,
// is refused whole with too_many_variables and changes nothing; changing
// a value that is kept within the bounds is fine. It reports whether st
// changed: a frame that sets only what is already set needs no write.
func (g *Gateway) mergeHostVariables(st *storage.State, vars map[string]string) (changed bool, err error) {
	n, size := len(st.HostVariables), 0
	for k, v := range st.HostVariables {
		size += len(k) + len(v)
	}
	for k, v := range vars {
		old, ok := st.HostVariables[k]
		switch {
		case ok && old == v:
			continue
		case ok:
			size += len(v) - len(old)
		default:
			n++
			size += len(k) + len(v)
		}
		changed = true
	}
	if !changed {
		return false, nil
	}
	if n > g.cfg.HostVariables || size > g.cfg.HostVariableBytes {
		return false, &FrameError{"too_many_variables", fmt.Sprintf(
			"a session keeps at most %d host variables of %d bytes in all; this frame would make %d of %d bytes",
			g.cfg.HostVariables, g.cfg.HostVariableBytes, n, size)}
	}
	if st.HostVariables == nil {
		st.HostVariables = make(map[string]string, len(vars))
	}
	maps.Copy(st.HostVariables, vars)
	return true, nil
}
