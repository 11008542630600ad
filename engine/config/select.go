package config

import (
	"slices"
	"strings"
)

// TagPrefix marks a tag where a component name is accepted: "@web"
// selects every component whose tags include "web".
const TagPrefix = "@"

// Select resolves the names an operator gave (component names, "@TAG",
// or "all" alone) against components in declaration order, where tags
// gives each component's tags. It returns the selected names, each once:
// in the order given, a tag's components in declaration order. unknown
// lists each given name or tag that selects nothing. It is safe for
// concurrent use.
func Select(components []string, tags func(name string) []string, names []string) (selected, unknown []string) {
	if len(names) == 1 && names[0] == "all" {
		return slices.Clone(components), nil
	}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			selected = append(selected, n)
		}
	}
	for _, n := range names {
		tag, isTag := strings.CutPrefix(n, TagPrefix)
		found := false
		for _, c := range components {
			if isTag && slices.Contains(tags(c), tag) || !isTag && c == n {
				add(c)
				found = true
			}
		}
		if !found {
			unknown = append(unknown, n)
		}
	}
	return selected, unknown
}

// Known lists what Select accepts among components: their names, then
// each tag once as "@TAG", in declaration order; for "known: …" in errors.
func Known(components []string, tags func(name string) []string) []string {
	out := slices.Clone(components)
	seen := map[string]bool{}
	for _, c := range components {
		for _, t := range tags(c) {
			if !seen[t] {
				seen[t] = true
				out = append(out, TagPrefix+t)
			}
		}
	}
	return out
}

// Select is the package's Select over c's components.
func (c *Config) Select(names []string) (selected, unknown []string) {
	return Select(c.Names(), c.tagsOf, names)
}

// Known is the package's Known over c's components.
func (c *Config) Known() []string { return Known(c.Names(), c.tagsOf) }

// Names returns the component names in declaration order.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.Components))
	for _, cc := range c.Components {
		out = append(out, cc.Name)
	}
	return out
}

func (c *Config) tagsOf(name string) []string {
	if cc := c.Component(name); cc != nil {
		return cc.Tags
	}
	return nil
}
