// Command argocd-health runs an Argo CD resource health script (resource.customizations health.lua)
// against Kubernetes objects as Argo CD does: in github.com/yuin/gopher-lua, the interpreter Argo
// CD embeds, with only the libraries Argo CD opens (package, base, table; no string, no os
// beyond its safe subset, which these scripts do not need), the object as the global `obj`, a
// one-second deadline, and the returned table read as {status, message}; a status Argo CD does
// not know becomes Unknown, as there.
//
//	argocd-health deploy/optional/argocd-health.lua < objects.json
//	{"kind":"RabbitQueue","namespace":"ns","name":"hello","status":"Healthy","message":"Reconciled: ..."}
//
// The objects come on stdin as JSON: one object, a List with items, or several concatenated.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

// The statuses of Argo CD's health package (gitops-engine pkg/health).
var known = map[string]bool{
	"Unknown": true, "Progressing": true, "Healthy": true, "Suspended": true, "Degraded": true, "Missing": true,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health SCRIPT.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err == nil {
		err = run(string(script), os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(script string, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	dec.UseNumber()
	enc := json.NewEncoder(out)
	for {
		var obj map[string]interface{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		items := []interface{}{obj}
		if list, ok := obj["items"].([]interface{}); ok && obj["kind"] == "List" {
			items = list
		}
		for _, item := range items {
			o, ok := item.(map[string]interface{})
			if !ok {
				return fmt.Errorf("not an object: %v", item)
			}
			status, message, err := health(script, o)
			if err != nil {
				return err
			}
			meta, _ := o["metadata"].(map[string]interface{})
			str := func(m map[string]interface{}, k string) string { s, _ := m[k].(string); return s }
			if err := enc.Encode(verdict{
				Kind:      str(o, "kind"),
				Namespace: str(meta, "namespace"),
				Name:      str(meta, "name"),
				Status:    status,
				Message:   message,
			}); err != nil {
				return err
			}
		}
	}
}

// health is Argo CD's util/lua runLua + ExecuteHealthLua, without Argo CD's other dependencies.
func health(script string, obj map[string]interface{}) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decode(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	status := lua.LVAsString(ret.RawGetString("status"))
	message := lua.LVAsString(ret.RawGetString("message"))
	if !known[status] {
		return "Unknown", fmt.Sprintf("Lua returned an invalid health status (%q)", status), nil
	}
	return status, message, nil
}

// decode turns a JSON value into Lua values as Argo CD's decodeValue does: objects and arrays as
// tables (arrays 1-based), numbers as numbers, null as nil.
func decode(l *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case json.Number:
		f, _ := x.Float64()
		return lua.LNumber(f)
	case float64:
		return lua.LNumber(x)
	case []interface{}:
		t := l.NewTable()
		for _, e := range x {
			t.Append(decode(l, e))
		}
		return t
	case map[string]interface{}:
		t := l.NewTable()
		for k, e := range x {
			t.RawSetString(k, decode(l, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(x))
	}
}
