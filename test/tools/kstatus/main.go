// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library Flux
// and cli-utils use) computes for Kubernetes objects: one JSON line per object, in input order.
//
// The objects come on stdin as JSON (an object, or a List with items) or YAML (one or more
// documents), as `kubectl get -o json` or `-o yaml` prints them.
//
//	kubectl get rabbitqueues -o json | kstatus
//	{"kind":"RabbitQueue","namespace":"ns","name":"hello","status":"Current","message":"Resource is current"}
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace,omitempty"`
	Name       string             `json:"name"`
	Status     string             `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions,omitempty"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	objects, err := read(in)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, u := range objects {
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		v := verdict{
			Kind:       u.GetKind(),
			Namespace:  u.GetNamespace(),
			Name:       u.GetName(),
			Status:     res.Status.String(),
			Message:    res.Message,
			Conditions: res.Conditions,
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// read decodes every document on in (JSON or YAML), expanding Lists into their items. Numbers
// decode as the API machinery decodes them (integers as int64), as kstatus expects.
func read(in io.Reader) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bufio.NewReader(in), 4096)
	var out []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue // an empty YAML document
		}
		obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, raw)
		if err != nil {
			return nil, err
		}
		switch o := obj.(type) {
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				out = append(out, &o.Items[i])
			}
		case *unstructured.Unstructured:
			out = append(out, o)
		default:
			return nil, fmt.Errorf("unexpected %T", obj)
		}
	}
}
