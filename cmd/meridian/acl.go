package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

func runACL(e *cmdEnv, args []string) int {
	return e.dispatch("meridian acl", map[string]cliCommand{
		"bootstrap":       {"Bootstrap the ACL system: create the first management token", runACLBootstrap},
		"token":           {"Manage ACL tokens", runACLToken},
		"policy":          {"Manage ACL policies", runACLPolicy},
		"set-agent-token": {"Assign a token for the agent's own use", runACLSetAgentToken},
	}, args)
}

const aclSetAgentTokenHelp = `Usage: meridian acl set-agent-token [options] TYPE TOKEN

  Sets one of the agent's own ACL tokens in place of its configuration's:
  until the agent restarts, or for good with acl.enable_token_persistence
  (then it is kept in the data directory). TYPE is one of:

    agent        the token of the agent's own requests (its node's entry
                 in the catalog, its coordinates)
    default      the token of HTTP and DNS requests that carry none
    recovery     may use this agent's /v1/agent endpoints even when no
                 server answers (aliases: agent_recovery, master)
    replication  what a secondary datacenter's leader replicates with

      $ meridian acl set-agent-token agent 5e52a099-4c90-c067-5478-980f06e3b6d5`

func runACLSetAgentToken(e *cmdEnv, args []string) int {
	const name = "acl set-agent-token"
	var h httpFlags
	fs := e.newFlagSet(name)
	h.register(fs, false)
	if code, ok := e.parse(fs, aclSetAgentTokenHelp, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return e.usageError(name, "Missing TYPE and TOKEN arguments (expected 2, got %d)", fs.NArg())
	}
	kind, token := fs.Arg(0), fs.Arg(1)
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	agent, opts := client.Agent(), client.write(e.ctx)
	switch kind {
	case "agent", "acl_agent_token":
		_, err = agent.UpdateAgentACLToken(token, opts)
	case "default", "acl_token":
		_, err = agent.UpdateDefaultACLToken(token, opts)
	case "recovery", "agent_recovery", "master", "agent_master":
		_, err = agent.UpdateAgentRecoveryACLToken(token, opts)
	case "replication", "acl_replication_token":
		_, err = agent.UpdateReplicationACLToken(token, opts)
	default:
		return e.usageError(name, "Unknown token type %q: want agent, default, recovery or replication", kind)
	}
	if err != nil {
		return e.fail(exitError, "Failed setting token: %v", err)
	}
	fmt.Fprintf(e.stdout, "ACL token %q set successfully\n", kind)
	return exitOK
}

func runACLToken(e *cmdEnv, args []string) int {
	return e.dispatch("meridian acl token", map[string]cliCommand{
		"create": {"Create an ACL token", runACLTokenCreate},
		"list":   {"List ACL tokens", runACLTokenList},
		"read":   {"Read an ACL token", runACLTokenRead},
		"delete": {"Delete an ACL token", runACLTokenDelete},
	}, args)
}

func runACLPolicy(e *cmdEnv, args []string) int {
	return e.dispatch("meridian acl policy", map[string]cliCommand{
		"create": {"Create an ACL policy", runACLPolicyCreate},
		"list":   {"List ACL policies", runACLPolicyList},
		"read":   {"Read an ACL policy", runACLPolicyRead},
		"delete": {"Delete an ACL policy", runACLPolicyDelete},
	}, args)
}

// aclCommand parses a command's flags and builds its client.
func (e *cmdEnv) aclCommand(name, help string, args []string, extra func(*flag.FlagSet)) (*agentClient, int, bool) {
	var h httpFlags
	fs := e.newFlagSet(name)
	h.register(fs, false)
	if extra != nil {
		extra(fs)
	}
	if code, ok := e.parse(fs, help, args); !ok {
		return nil, code, false
	}
	if fs.NArg() > 0 {
		return nil, e.usageError(name, "Too many arguments (expected 0, got %d)", fs.NArg()), false
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return nil, e.fail(exitUsage, "Error! %v", err), false
	}
	return client, 0, true
}

func printToken(w io.Writer, t *api.ACLToken) {
	fmt.Fprintf(w, "AccessorID:       %s\n", t.AccessorID)
	fmt.Fprintf(w, "SecretID:         %s\n", t.SecretID)
	fmt.Fprintf(w, "Description:      %s\n", t.Description)
	fmt.Fprintf(w, "Local:            %t\n", t.Local)
	fmt.Fprintf(w, "Create Time:      %s\n", t.CreateTime.Format(time.RFC3339))
	if len(t.Policies) > 0 {
		fmt.Fprintf(w, "Policies:\n")
		for _, p := range t.Policies {
			fmt.Fprintf(w, "   %s - %s\n", p.ID, p.Name)
		}
	}
	if len(t.Roles) > 0 {
		fmt.Fprintf(w, "Roles:\n")
		for _, r := range t.Roles {
			fmt.Fprintf(w, "   %s - %s\n", r.ID, r.Name)
		}
	}
}

func printPolicy(w io.Writer, p *api.ACLPolicy) {
	fmt.Fprintf(w, "ID:           %s\n", p.ID)
	fmt.Fprintf(w, "Name:         %s\n", p.Name)
	fmt.Fprintf(w, "Description:  %s\n", p.Description)
	fmt.Fprintf(w, "Datacenters:  %s\n", strings.Join(p.Datacenters, ", "))
	fmt.Fprintf(w, "Rules:\n%s\n", p.Rules)
}

const aclBootstrapHelp = `Usage: meridian acl bootstrap [options]

  Creates the first management token of a datacenter whose servers run
  with acl { enabled = true }. It works once; keep the SecretID it prints.`

func runACLBootstrap(e *cmdEnv, args []string) int {
	client, code, ok := e.aclCommand("acl bootstrap", aclBootstrapHelp, args, nil)
	if !ok {
		return code
	}
	defer client.close()
	tok, _, err := client.ACL().Bootstrap()
	if err != nil {
		return e.fail(exitError, "Failed ACL bootstrapping: %v", err)
	}
	printToken(e.stdout, tok)
	return exitOK
}

const aclTokenCreateHelp = `Usage: meridian acl token create [options]

  Creates a token linked to policies (by name or ID); its SecretID is
  what clients send as X-Consul-Token.

      $ meridian acl token create -description "app" -policy-name app`

func runACLTokenCreate(e *cmdEnv, args []string) int {
	var (
		desc, accessor, secret string
		local                  bool
		policyNames, policyIDs stringList
		roleNames, roleIDs     stringList
	)
	client, code, ok := e.aclCommand("acl token create", aclTokenCreateHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&desc, "description", "", "A description of the token.")
		fs.StringVar(&accessor, "accessor", "", "The AccessorID; generated when empty.")
		fs.StringVar(&secret, "secret", "", "The SecretID; generated when empty.")
		fs.BoolVar(&local, "local", false, "Make the token valid only in this datacenter.")
		fs.Var(&policyNames, "policy-name", "Name of a policy to link. May be repeated.")
		fs.Var(&policyIDs, "policy-id", "ID of a policy to link. May be repeated.")
		fs.Var(&roleNames, "role-name", "Name of a role to link. May be repeated.")
		fs.Var(&roleIDs, "role-id", "ID of a role to link. May be repeated.")
	})
	if !ok {
		return code
	}
	defer client.close()
	tok := &api.ACLToken{Description: desc, AccessorID: accessor, SecretID: secret, Local: local}
	for _, n := range policyNames {
		tok.Policies = append(tok.Policies, &api.ACLTokenPolicyLink{Name: n})
	}
	for _, id := range policyIDs {
		tok.Policies = append(tok.Policies, &api.ACLTokenPolicyLink{ID: id})
	}
	for _, n := range roleNames {
		tok.Roles = append(tok.Roles, &api.ACLTokenRoleLink{Name: n})
	}
	for _, id := range roleIDs {
		tok.Roles = append(tok.Roles, &api.ACLTokenRoleLink{ID: id})
	}
	out, _, err := client.ACL().TokenCreate(tok, client.write(e.ctx))
	if err != nil {
		return e.fail(exitError, "Failed to create new token: %v", err)
	}
	printToken(e.stdout, out)
	return exitOK
}

const aclTokenListHelp = `Usage: meridian acl token list [options]

  Lists every token (SecretIDs only to a token that may write ACLs).`

func runACLTokenList(e *cmdEnv, args []string) int {
	client, code, ok := e.aclCommand("acl token list", aclTokenListHelp, args, nil)
	if !ok {
		return code
	}
	defer client.close()
	list, _, err := client.ACL().TokenList(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Failed to retrieve the token list: %v", err)
	}
	for i, t := range list {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		printToken(e.stdout, &api.ACLToken{AccessorID: t.AccessorID, SecretID: t.SecretID, Description: t.Description,
			Local: t.Local, CreateTime: t.CreateTime, Policies: t.Policies, Roles: t.Roles})
	}
	return exitOK
}

const aclTokenReadHelp = `Usage: meridian acl token read [options] -id ACCESSOR | -self

  Reads a token by its AccessorID, or the token the command runs with.`

func runACLTokenRead(e *cmdEnv, args []string) int {
	var id string
	var self bool
	client, code, ok := e.aclCommand("acl token read", aclTokenReadHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The AccessorID of the token to read.")
		fs.BoolVar(&self, "self", false, "Read the token the command runs with.")
	})
	if !ok {
		return code
	}
	defer client.close()
	if (id == "") == !self {
		return e.usageError("acl token read", "Exactly one of -id and -self is required")
	}
	var tok *api.ACLToken
	var err error
	if self {
		tok, _, err = client.ACL().TokenReadSelf(client.read(e.ctx))
	} else {
		tok, _, err = client.ACL().TokenRead(id, client.read(e.ctx))
	}
	if err != nil {
		return e.fail(exitError, "Error reading token: %v", err)
	}
	printToken(e.stdout, tok)
	return exitOK
}

const aclTokenDeleteHelp = `Usage: meridian acl token delete [options] -id ACCESSOR

  Deletes a token; requests carrying its secret are refused from then on.`

func runACLTokenDelete(e *cmdEnv, args []string) int {
	var id string
	client, code, ok := e.aclCommand("acl token delete", aclTokenDeleteHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The AccessorID of the token to delete.")
	})
	if !ok {
		return code
	}
	defer client.close()
	if id == "" {
		return e.usageError("acl token delete", "Must specify the -id parameter")
	}
	if _, err := client.ACL().TokenDelete(id, client.write(e.ctx)); err != nil {
		return e.fail(exitError, "Error deleting token %q: %v", id, err)
	}
	fmt.Fprintf(e.stdout, "Token %q deleted successfully\n", id)
	return exitOK
}

const aclPolicyCreateHelp = `Usage: meridian acl policy create [options] -name NAME -rules RULES

  Creates a policy. RULES are HCL or JSON in Consul's rule language;
  @FILE reads them from a file and - from standard input.

      $ meridian acl policy create -name app -rules 'key_prefix "app/" { policy = "write" }'`

func runACLPolicyCreate(e *cmdEnv, args []string) int {
	var name, desc, rules string
	var dcs stringList
	client, code, ok := e.aclCommand("acl policy create", aclPolicyCreateHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "The policy's name (required).")
		fs.StringVar(&desc, "description", "", "A description of the policy.")
		fs.StringVar(&rules, "rules", "", "The rules, @FILE, or - for standard input.")
		fs.Var(&dcs, "valid-datacenter", "A datacenter the policy is valid in (default: all). May be repeated.")
	})
	if !ok {
		return code
	}
	defer client.close()
	if name == "" {
		return e.usageError("acl policy create", "Missing required '-name' flag")
	}
	text, err := e.readRules(rules)
	if err != nil {
		return e.fail(exitError, "Error loading rules: %v", err)
	}
	p, _, err := client.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Description: desc, Rules: text, Datacenters: dcs}, client.write(e.ctx))
	if err != nil {
		return e.fail(exitError, "Failed to create new policy: %v", err)
	}
	printPolicy(e.stdout, p)
	return exitOK
}

// maxRulesFile bounds rules read from a file or standard input.
const maxRulesFile = 1 << 20

func (e *cmdEnv) readRules(arg string) (string, error) {
	var r io.Reader
	switch {
	case arg == "-":
		r = e.stdin
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	default:
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxRulesFile+1))
	if err == nil && len(b) > maxRulesFile {
		err = fmt.Errorf("rules longer than %d bytes", maxRulesFile)
	}
	return string(b), err
}

const aclPolicyListHelp = `Usage: meridian acl policy list [options]

  Lists every policy.`

func runACLPolicyList(e *cmdEnv, args []string) int {
	client, code, ok := e.aclCommand("acl policy list", aclPolicyListHelp, args, nil)
	if !ok {
		return code
	}
	defer client.close()
	list, _, err := client.ACL().PolicyList(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Failed to retrieve the policy list: %v", err)
	}
	for _, p := range list {
		fmt.Fprintf(e.stdout, "%s:\n   ID:           %s\n   Description:  %s\n   Datacenters:  %s\n",
			p.Name, p.ID, p.Description, strings.Join(p.Datacenters, ", "))
	}
	return exitOK
}

const aclPolicyReadHelp = `Usage: meridian acl policy read [options] -id ID | -name NAME

  Reads a policy with its rules.`

func (e *cmdEnv) policyByFlags(client *agentClient, id, name string) (*api.ACLPolicy, error) {
	if name != "" {
		p, _, err := client.ACL().PolicyReadByName(name, client.read(e.ctx))
		return p, err
	}
	p, _, err := client.ACL().PolicyRead(id, client.read(e.ctx))
	return p, err
}

func runACLPolicyRead(e *cmdEnv, args []string) int {
	var id, name string
	client, code, ok := e.aclCommand("acl policy read", aclPolicyReadHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The ID of the policy.")
		fs.StringVar(&name, "name", "", "The name of the policy.")
	})
	if !ok {
		return code
	}
	defer client.close()
	if (id == "") == (name == "") {
		return e.usageError("acl policy read", "Exactly one of -id and -name is required")
	}
	p, err := e.policyByFlags(client, id, name)
	if err != nil {
		return e.fail(exitError, "Error reading policy: %v", err)
	}
	printPolicy(e.stdout, p)
	return exitOK
}

const aclPolicyDeleteHelp = `Usage: meridian acl policy delete [options] -id ID | -name NAME

  Deletes a policy; tokens linked to it lose its rules.`

func runACLPolicyDelete(e *cmdEnv, args []string) int {
	var id, name string
	client, code, ok := e.aclCommand("acl policy delete", aclPolicyDeleteHelp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "The ID of the policy.")
		fs.StringVar(&name, "name", "", "The name of the policy.")
	})
	if !ok {
		return code
	}
	defer client.close()
	if (id == "") == (name == "") {
		return e.usageError("acl policy delete", "Exactly one of -id and -name is required")
	}
	if name != "" {
		p, err := e.policyByFlags(client, "", name)
		if err != nil {
			return e.fail(exitError, "Error looking up policy %q: %v", name, err)
		}
		id = p.ID
	}
	if _, err := client.ACL().PolicyDelete(id, client.write(e.ctx)); err != nil {
		return e.fail(exitError, "Error deleting policy %q: %v", id, err)
	}
	fmt.Fprintf(e.stdout, "Policy %q deleted successfully\n", id)
	return exitOK
}
