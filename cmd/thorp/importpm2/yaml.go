package importpm2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlDoc reads an ecosystem file in YAML (its first document) into the
// values encoding/json would give with UseNumber. Errors name the file and
// line.
func yamlDoc(data []byte, name string) (any, error) {
	var doc any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the YAML file is empty", name)
		}
		msg := err.Error()
		if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
			return nil, fmt.Errorf("%s:%s: %s", name, sm[1], msg[len(sm[0]):])
		}
		return nil, fmt.Errorf("%s: %s", name, msg)
	}
	return jsonValue(doc), nil
}

// jsonValue turns a decoded YAML value into a JSON-like one: maps keyed by
// strings, numbers as json.Number, times as RFC 3339 text.
func jsonValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = jsonValue(e)
		}
		return out
	case int:
		return json.Number(strconv.Itoa(t))
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case uint64:
		return json.Number(strconv.FormatUint(t, 10))
	case float64:
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64))
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return v
}
