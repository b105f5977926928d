//go:build !unix

package widget

// defaultMaxConns is 10,000 where the open-file limit cannot be read.
func defaultMaxConns() int { return 10000 }
