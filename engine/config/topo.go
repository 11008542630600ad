package config

import (
	"fmt"
	"strings"
)

// cycle is one dependency cycle: path starts and ends at cs[at].Name.
type cycle struct {
	at   int
	path []string
}

// findCycles returns one cycle per strongly connected group of components
// that depend on each other (a self-dependency included), each starting at
// the group's first-declared member, in declaration order. Unknown and
// duplicate names are ignored.
func findCycles(cs []Component) []cycle {
	index := map[string]int{}
	for i, c := range cs {
		if _, dup := index[c.Name]; !dup {
			index[c.Name] = i
		}
	}
	deps := func(i int) []int {
		var out []int
		for _, d := range cs[i].DependsOn {
			if j, ok := index[d]; ok {
				out = append(out, j)
			}
		}
		return out
	}

	// Tarjan's strongly connected components.
	var (
		counter int
		order   = make([]int, len(cs))
		low     = make([]int, len(cs))
		onStack = make([]bool, len(cs))
		stack   []int
		groups  [][]int
	)
	for i := range order {
		order[i] = -1
	}
	var visit func(int)
	visit = func(v int) {
		order[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range deps(v) {
			if order[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], order[w])
			}
		}
		if low[v] == order[v] {
			var g []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				g = append(g, w)
				if w == v {
					break
				}
			}
			groups = append(groups, g)
		}
	}
	for i, c := range cs {
		if index[c.Name] == i && order[i] < 0 {
			visit(i)
		}
	}

	var out []cycle
	for _, g := range groups {
		in := map[int]bool{}
		start := g[0]
		for _, v := range g {
			in[v] = true
			start = min(start, v)
		}
		selfLoop := false
		for _, w := range deps(start) {
			selfLoop = selfLoop || w == start
		}
		if len(g) == 1 && !selfLoop {
			continue
		}
		out = append(out, cycle{at: start, path: cyclePath(start, in, deps, cs)})
	}
	// Declaration order, so reports are stable.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].at < out[j-1].at; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// cyclePath finds a path from start back to start inside one group,
// following dependencies in declaration order.
func cyclePath(start int, in map[int]bool, deps func(int) []int, cs []Component) []string {
	seen := map[int]bool{}
	var path []int
	var walk func(int) bool
	walk = func(v int) bool {
		path = append(path, v)
		for _, w := range deps(v) {
			if w == start {
				path = append(path, w)
				return true
			}
			if in[w] && !seen[w] {
				seen[w] = true
				if walk(w) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	walk(start)
	names := make([]string, len(path))
	for i, v := range path {
		names[i] = cs[v].Name
	}
	return names
}

// TopoOrder groups components into dependency levels: level 0 depends on
// nothing, level n only on levels below n. Start level by level; stop in
// the reverse order. Names keep declaration order within a level. It
// returns an error for an unknown dependency or a cycle. It is safe for
// concurrent use.
func TopoOrder(cs []Component) ([][]string, error) {
	index := map[string]int{}
	for i, c := range cs {
		if _, dup := index[c.Name]; dup {
			return nil, fmt.Errorf("component %q is declared twice", c.Name)
		}
		index[c.Name] = i
	}
	for _, c := range cs {
		for _, d := range c.DependsOn {
			if _, ok := index[d]; !ok {
				return nil, fmt.Errorf("component %q depends on unknown component %q", c.Name, d)
			}
		}
	}
	if cycles := findCycles(cs); len(cycles) > 0 {
		return nil, fmt.Errorf("dependency cycle: %s", strings.Join(cycles[0].path, " -> "))
	}
	level := make([]int, len(cs))
	done := make([]bool, len(cs))
	var depth func(int) int
	depth = func(i int) int {
		if done[i] {
			return level[i]
		}
		l := 0
		for _, d := range cs[i].DependsOn {
			l = max(l, depth(index[d])+1)
		}
		level[i], done[i] = l, true
		return l
	}
	var out [][]string
	for i := range cs {
		l := depth(i)
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], cs[i].Name)
	}
	return out, nil
}
