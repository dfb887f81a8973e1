package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/policy"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate and list detection rules",
		Long: `Validate rule files and list the rules vigil evaluates: the built-in
rules, then each --rules file in order (docs/rules.md describes the
language). Nothing here touches the kernel.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesListCmd())
	return cmd
}

func newRulesValidateCmd() *cobra.Command {
	var noDefaults bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check rule files",
		Long: `Check each rule file on its own (with the built-in lists known, as vigil
loads it), then all of them together in the order given, after the
built-in rules unless --no-default-rules: what 'vigil run' would load.
Prints "FILE: N rules OK" for each good file and every error otherwise;
the exit status is 1 when there is any error. A rule file must be a regular
file (or a link to one): a named pipe, a device or a directory is an error.`,
		Example: `  vigil rules validate /etc/vigil/rules.d/*.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return validateRules(cmd.OutOrStdout(), cmd.ErrOrStderr(), files, !noDefaults)
		},
	}
	cmd.Flags().BoolVar(&noDefaults, "no-default-rules", false, "check the files as loaded without the built-in rules")
	return cmd
}

// validateRules checks files one by one, then together.
func validateRules(stdout, stderr io.Writer, files []string, builtins bool) error {
	b, err := policy.BuiltinFile()
	if err != nil {
		return err
	}
	failed := false
	for _, path := range files {
		n, err := validateFile(path, b.Lists)
		if err != nil {
			failed = true
			fmt.Fprintln(stderr, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: %d rules OK\n", path, n)
	}
	if failed {
		return exitError(1)
	}
	// Together: disable lists, replacements, duplicate names and the
	// limits of the whole set.
	rules, err := policy.Load(files, builtins)
	if err == nil {
		_, err = policy.Compile(rules)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError(1)
	}
	return nil
}

// validateFile parses and compiles one file, returning its rule count.
func validateFile(path string, lists map[string][]string) (int, error) {
	data, err := policy.ReadFile(path)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			return 0, err
		}
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	f, err := policy.Parse(path, data, lists)
	if err != nil {
		return 0, err
	}
	if _, err := policy.Compile(f.Rules); err != nil {
		return 0, err
	}
	return len(f.Rules), nil
}

type rulesListFlags struct {
	files      []string
	noDefaults bool
	json       bool
}

func newRulesListCmd() *cobra.Command {
	var f rulesListFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enabled rules",
		Long: `List the rules vigil would evaluate: the built-in rules (unless
--no-default-rules), then each --rules file in order, without the rules
disabled. A table by default, or a JSON array of the rules with --json.`,
		Example: `  vigil rules list
  vigil rules list --rules my-rules.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := policy.Load(f.files, !f.noDefaults)
			if err != nil {
				return err
			}
			var enabled []*policy.Rule
			for _, r := range rules {
				if r.Enabled {
					enabled = append(enabled, r)
				}
			}
			if f.json {
				return writeRulesJSON(cmd.OutOrStdout(), enabled)
			}
			return writeRulesTable(cmd.OutOrStdout(), enabled)
		},
	}
	cmd.Flags().StringArrayVar(&f.files, "rules", nil, "rule file, after the built-in rules (repeatable)")
	cmd.Flags().BoolVar(&f.noDefaults, "no-default-rules", false, "leave out the built-in rules")
	cmd.Flags().BoolVar(&f.json, "json", false, "a JSON array of the rules")
	return cmd
}

func writeRulesJSON(w io.Writer, rules []*policy.Rule) error {
	if rules == nil {
		rules = []*policy.Rule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rules)
}

func writeRulesTable(w io.Writer, rules []*policy.Rule) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSEVERITY\tACTION\tEVENTS\tSOURCE")
	for _, r := range rules {
		events := make([]string, len(r.Events))
		for i, k := range r.Events {
			events[i] = string(k)
		}
		src := r.Source
		if src != policy.Builtin && r.Line > 0 {
			src = fmt.Sprintf("%s:%d", src, r.Line)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Severity, r.Action, strings.Join(events, ","), src)
	}
	return tw.Flush()
}
