package policies

import (
	"strconv"
	"strings"
)

// MemoryPolicy is a component's memory threshold (max_memory_restart and
// memory_samples). Values are plain data, safe to share.
type MemoryPolicy struct {
	// Limit is the memory in bytes the component may use; 0 (or less) = off.
	Limit int64
	// Samples is how many consecutive samples over Limit call for a restart;
	// values below 1 act as 1.
	Samples int
	// LimitText is the limit as the user wrote it, with its binary figure
	// beside when that reads differently ("150MB (143.1 MiB)"); "" shows
	// Limit in binary units.
	LimitText string
}

// MemoryState is what the memory policy remembers between samples of one
// instance. The caller resets it to the zero value at each start.
type MemoryState struct {
	// Over is the number of consecutive samples over the limit.
	Over int
}

// MemoryDecision is DecideMemory's answer.
type MemoryDecision struct {
	// Restart is true when the last Samples samples were all over the limit.
	Restart bool
	// Why describes a sample over the limit, e.g.
	// "memory 162.3 MiB over limit 150 MiB for 2 samples"; "" when under.
	Why string
}

// DecideMemory folds one memory sample (bytes) into st and decides whether
// the instance must restart. A sample is over when it exceeds p.Limit. The
// decision is level-triggered: Restart stays true for every further sample
// over the limit until one falls back under or the caller resets st (at the
// next start), so a caller busy restarting can ignore repeats safely. It is
// pure: safe for concurrent use.
func DecideMemory(p MemoryPolicy, st MemoryState, bytes int64) (MemoryDecision, MemoryState) {
	if p.Limit <= 0 || bytes <= p.Limit {
		return MemoryDecision{}, MemoryState{}
	}
	need := max(p.Samples, 1)
	next := MemoryState{Over: max(st.Over, 0) + 1}
	if next.Over <= 0 { // overflow after years over the limit
		next.Over = need
	}
	limit := p.LimitText
	if limit == "" {
		limit = formatBytes(p.Limit)
	}
	head := "memory " + formatBytes(bytes) + " over limit " + limit
	if next.Over < need {
		return MemoryDecision{Why: head + " (" + strconv.Itoa(next.Over) + " of " +
			strconv.Itoa(need) + " samples)"}, next
	}
	return MemoryDecision{Restart: true, Why: head + " for " + plural(next.Over, "sample")}, next
}

// formatBytes renders n in binary units with at most one decimal, as thorp's
// output does everywhere: "512 B", "1 KiB", "162.3 MiB", "1.5 GiB".
func formatBytes(n int64) string {
	const units = "KMGTPE"
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	var s string
	if u < 1024 {
		s = strconv.FormatUint(u, 10) + " B"
	} else {
		v, i := float64(u)/1024, 0
		for v >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		f := strconv.FormatFloat(v, 'f', 1, 64)
		if f == "1024.0" && i < len(units)-1 { // rounding reached the next unit
			f, i = "1.0", i+1
		}
		s = strings.TrimSuffix(f, ".0") + " " + units[i:i+1] + "iB"
	}
	if neg {
		return "-" + s
	}
	return s
}

func plural(n int, word string) string {
	s := strconv.Itoa(n) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}
