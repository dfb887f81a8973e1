package bpfpolicy

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
)

// constants computes the load-time constants of policy.h from prog.
func constants(prog *policy.Program, emitAll []event.Kind) (map[string]any, error) {
	var (
		kindRules [numKinds]uint64
		emit      [numKinds]uint8
		params    [64]bpfpolicyPolicyParam
		active    uint8
	)
	for _, k := range emitAll {
		id := KindID(k)
		if id == 0 {
			return nil, fmt.Errorf("kind %q: not a kind the kernel policy knows", k)
		}
		emit[id] = 1
		active = 1
	}
	c := map[string]any{}
	dim := func(name string, wild, any uint64) {
		c["pol_"+name+"_wild"] = wild
		c["pol_"+name+"_any"] = any
	}
	var kill, deny, withParams uint64
	if prog != nil {
		for k, mask := range prog.Kinds {
			id := KindID(k)
			if id == 0 {
				return nil, fmt.Errorf("rules for kind %q: not a kind the kernel policy knows", k)
			}
			kindRules[id] = mask
			if mask != 0 {
				active = 1
			}
		}
		dim("exe", prog.Exe.Wild, strAny(&prog.Exe))
		dim("pexe", prog.ParentExe.Wild, strAny(&prog.ParentExe))
		dim("path", prog.Path.Wild, strAny(&prog.Path))
		dim("target", prog.Target.Wild, strAny(&prog.Target))
		var nameAny uint64
		for _, m := range prog.Name.Entries {
			nameAny |= m.Pos | m.Neg
		}
		dim("name", prog.Name.Wild, nameAny)
		var destAny uint64
		for _, e := range prog.DestV4.Entries {
			destAny |= e.Pos | e.Neg
		}
		for _, e := range prog.DestV6.Entries {
			destAny |= e.Pos | e.Neg
		}
		dim("dest", prog.DestV4.Wild, destAny)
		var portAny uint64
		for _, m := range prog.Ports.Entries {
			portAny |= m.Pos | m.Neg
		}
		dim("port", prog.Ports.Wild, portAny)
		kill, deny = prog.Kill, prog.Deny
		for i, p := range prog.Params {
			if p.AnyBits == 0 && len(p.Values) == 0 {
				continue
			}
			if len(p.Values) > len(params[i].Values) {
				return nil, fmt.Errorf("rule %d: %d parameter values, the kernel takes %d", i, len(p.Values), len(params[i].Values))
			}
			withParams |= 1 << i
			params[i].AnyBits = p.AnyBits
			params[i].ValueMask = p.ValueMask
			params[i].Nvalues = uint32(len(p.Values))
			copy(params[i].Values[:], p.Values)
		}
	} else {
		for _, d := range []string{"exe", "pexe", "path", "target", "name", "dest", "port"} {
			dim(d, 0, 0)
		}
	}
	c["pol_active"] = active
	c["pol_kind_rules"] = kindRules
	c["pol_emit_all"] = emit
	c["pol_kill"] = kill
	c["pol_deny"] = deny
	c["pol_with_params"] = withParams
	c["pol_params"] = params
	return c, nil
}

// strAny is the rules with any pattern in d.
func strAny(d *policy.Dimension) uint64 {
	var any uint64
	for _, e := range d.Entries {
		any |= e.Pos | e.Neg
	}
	return any
}

// fill writes prog's tables into the shared maps.
func (k *Kernel) fill() error {
	p := k.prog
	if p == nil {
		return nil
	}
	for name, d := range map[string]*policy.Dimension{
		"pol_exe": &p.Exe, "pol_pexe": &p.ParentExe, "pol_path": &p.Path, "pol_target": &p.Target,
	} {
		if err := putStrings(k.coll.Maps[name], d); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for n, m := range p.Name.Entries {
		var key bpfpolicyPolicyNameKey
		if len(n) >= len(key.Name) {
			return fmt.Errorf("pol_name: %q is longer than %d bytes", n, len(key.Name)-1)
		}
		copy(key.Name[:], n)
		if err := k.coll.Maps["pol_name"].Put(&key, masks(m)); err != nil {
			return fmt.Errorf("pol_name %q: %w", n, err)
		}
	}
	for _, d := range []*policy.CIDRDimension{&p.DestV4, &p.DestV6} {
		for _, e := range d.Entries {
			if err := putCIDR(k.coll.Maps, e); err != nil {
				return err
			}
		}
	}
	for port, m := range p.Ports.Entries {
		if err := k.coll.Maps["pol_port"].Put(port, masks(m)); err != nil {
			return fmt.Errorf("pol_port %d: %w", port, err)
		}
	}
	return nil
}

func masks(m policy.Masks) *bpfpolicyPolicyMasks {
	return &bpfpolicyPolicyMasks{Pos: m.Pos, Neg: m.Neg}
}

// strKey is the kernel's trie key for an entry: the key bytes, with a NUL
// for exact entries so that they match only whole strings.
func strKey(key string, exact bool) (prefixlen uint32, data [256]byte, err error) {
	b := []byte(key)
	if exact {
		b = append(b, 0)
	}
	if len(b) > 255 {
		return 0, data, fmt.Errorf("%q: longer than the kernel's 255-byte keys", key)
	}
	copy(data[:], b)
	return uint32(len(b) * 8), data, nil
}

func putStrings(m *ebpf.Map, d *policy.Dimension) error {
	for _, e := range d.Entries {
		plen, data, err := strKey(e.Key, e.Exact)
		if err != nil {
			return err
		}
		key := bpfpolicyPolicyStrKey{Prefixlen: plen, Data: data}
		if err := m.Put(&key, masks(e.Masks)); err != nil {
			return fmt.Errorf("%q: %w", e.Key, err)
		}
	}
	return nil
}

func putCIDR(maps map[string]*ebpf.Map, e policy.CIDREntry) error {
	pfx := e.Prefix.Masked()
	a := pfx.Addr()
	if a.Is4() {
		key := bpfpolicyPolicyV4Key{Prefixlen: uint32(pfx.Bits()), Addr: a.As4()}
		if err := maps["pol_v4"].Put(&key, masks(e.Masks)); err != nil {
			return fmt.Errorf("pol_v4 %s: %w", pfx, err)
		}
		return nil
	}
	key := bpfpolicyPolicyV6Key{Prefixlen: uint32(pfx.Bits()), Addr: a.As16()}
	if err := maps["pol_v6"].Put(&key, masks(e.Masks)); err != nil {
		return fmt.Errorf("pol_v6 %s: %w", pfx, err)
	}
	return nil
}
