package policy

import (
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"/etc/*.conf", "/etc/a.conf", true},
		{"/etc/*.conf", "/etc/x/a.conf", false}, // * stays in its segment
		{"/etc/**/*.conf", "/etc/a.conf", true}, // ** may be no segment
		{"/etc/**/*.conf", "/etc/x/y/a.conf", true},
		{"/etc/**/*.conf", "/etc/x/y/a.confx", false},
		{"/etc/**", "/etc", true},
		{"/etc/**", "/etc/", true},
		{"/etc/**", "/etcx/a", false},
		{"/home/*/.ssh/id_?sa", "/home/bob/.ssh/id_rsa", true},
		{"/home/*/.ssh/id_?sa", "/home/bob/.ssh/id_ed25519", false},
		{"/dev/[st]d[a-z]", "/dev/sda", true},
		{"/dev/[st]d[a-z]", "/dev/nvme0", false},
		{`/tmp/\*`, "/tmp/*", true},
		{`/tmp/\*`, "/tmp/x", false},
		{"/a/**/b/**/c", "/a/b/c", true},
		{"/a/**/b/**/c", "/a/x/b/y/z/c", true},
		{"/a/**/b/**/c", "/a/x/y/z/c", false},
		{"/usr/lib/python3*/**/__pycache__/*.pyc", "/usr/lib/python3/dist-packages/x/__pycache__/y.cpython-311.pyc", true},
		{"/usr/lib/python3*/**/__pycache__/*.pyc", "/usr/lib/python3.11/__pycache__/y.cpython-311.pyc", true},
		{"/usr/lib/python3*/**/__pycache__/*.pyc", "/usr/lib/python3/dist-packages/evil.py", false},
	} {
		g, err := compileGlob(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := g.match(c.s); got != c.want {
			t.Errorf("%s matches %s = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
	for _, bad := range []string{"/etc/[", "/etc/[a-", `/etc/\`} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	for p, want := range map[string]string{"/etc/*.conf": "/etc/", "/home/?/x": "/home/", "/a[b]": "/a", `/x\*`: "/x", "/plain": "/plain", "**": ""} {
		if got := literalPrefix(p); got != want {
			t.Errorf("literalPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestGlobManyStars: "**" backtracking stays polynomial.
func TestGlobManyStars(t *testing.T) {
	g, _ := compileGlob("/a" + strings.Repeat("/**", 30) + "/z")
	s := "/a" + strings.Repeat("/x", 200)
	if g.match(s) {
		t.Error("matched without the final segment")
	}
	if !g.match(s + "/z") {
		t.Error("no match with it")
	}
}
