package redact

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

const R = Marker

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"nothing", []string{"/bin/ls", "-la", "/tmp"}, nil},
		{"plain words with colons and equals", []string{"env", "PATH=/usr/bin", "LANG=C.UTF-8", "a:b", "--color=auto", "-n=3"}, nil},
		{"curl header", []string{"curl", "-H", "Authorization: Bearer abc.def", "https://x/"},
			[]string{"curl", "-H", "Authorization: " + R, "https://x/"}},
		{"curl header joined", []string{"curl", "-HAuthorization:Basic Zm9vOmJhcg==", "https://x/"},
			[]string{"curl", "-HAuthorization:" + R, "https://x/"}},
		{"wget header option", []string{"wget", "--header=Cookie: session=s3cr3t; theme=dark", "http://x/"},
			[]string{"wget", "--header=Cookie: " + R, "http://x/"}},
		{"other headers kept", []string{"curl", "-H", "Accept: text/html", "-H", "X-Auth-Token: t0k", "-H", "x-api-key:k"},
			[]string{"curl", "-H", "Accept: text/html", "-H", "X-Auth-Token: " + R, "-H", "x-api-key:" + R}},
		{"header name inside a word", []string{"echo", "noauthorization: x", "myCookie: y"}, nil},
		{"shell command string", []string{"/bin/sh", "-c", `curl -s -H 'Authorization: Bearer abc' https://api/v1 && echo done`},
			[]string{"/bin/sh", "-c", `curl -s -H 'Authorization: ` + R + `' https://api/v1 && echo done`}},
		{"url password", []string{"git", "clone", "https://alice:hunter2@git.example/repo.git"},
			[]string{"git", "clone", "https://alice:" + R + "@git.example/repo.git"}},
		{"url user only kept", []string{"git", "clone", "ssh://git@host/repo"}, nil},
		{"url without user info", []string{"curl", "http://127.0.0.1:8080/users/7"}, nil},
		{"redis password only", []string{"redis-cli", "-u", "redis://:pw@localhost:6379/0"},
			[]string{"redis-cli", "-u", "redis://:" + R + "@localhost:6379/0"}},
		{"query string and fragment", []string{"curl", "https://api/x?api_key=abc&x=1#frag"},
			[]string{"curl", "https://api/x?" + R + "#" + R}},
		{"fragment", []string{"xdg-open", "https://app.example/cb#access_token=tok&state=s", "http://h/p#"},
			[]string{"xdg-open", "https://app.example/cb#" + R, "http://h/p#"}},
		{"fragment in a shell string", []string{"sh", "-c", `curl 'http://h/a#t0k' # a comment`},
			[]string{"sh", "-c", `curl 'http://h/a#` + R + `' # a comment`}},
		{"query and password", []string{"psql", "postgres://u:p@h/db?sslmode=require"},
			[]string{"psql", "postgres://u:" + R + "@h/db?" + R}},
		{"option with equals", []string{"app", "--db-password=pa55", "--api-key=k", "--token=t", "-Djavax.net.ssl.keyStorePassword=ks", "--client_secret=cs"},
			[]string{"app", "--db-password=" + R, "--api-key=" + R, "--token=" + R, "-Djavax.net.ssl.keyStorePassword=" + R, "--client_secret=" + R}},
		{"option then value", []string{"redis-cli", "--pass", "s3", "-h", "db"},
			[]string{"redis-cli", "--pass", R, "-h", "db"}},
		{"option then another option", []string{"psql", "--password", "-h", "db"}, nil},
		{"option as last argument", []string{"psql", "--password"}, nil},
		{"token file is a path", []string{"kubectl", "--token-file=/var/run/t", "--password-file", "/etc/p"}, nil},
		{"openssl passin", []string{"openssl", "rsa", "-in", "k.pem", "-passin", "pass:secret"},
			[]string{"openssl", "rsa", "-in", "k.pem", "-passin", R}},
		{"env assignment", []string{"env", "PGPASSWORD=pw", "AWS_SECRET_ACCESS_KEY=ak", "GITHUB_TOKEN=gh", "HOME=/root", "PWD=/srv", "psql"},
			[]string{"env", "PGPASSWORD=" + R, "AWS_SECRET_ACCESS_KEY=" + R, "GITHUB_TOKEN=" + R, "HOME=/root", "PWD=/srv", "psql"}},
		{"docker env flag", []string{"docker", "run", "-e", "DB_PASSWORD=x", "img"},
			[]string{"docker", "run", "-e", "DB_PASSWORD=" + R, "img"}},
		{"env assignment in a shell string", []string{"bash", "-c", `MYSQL_PWD="pw"; export API_TOKEN='abc' && run --secret=xyz --token t2 go`},
			[]string{"bash", "-c", `MYSQL_PWD="` + R + `"; export API_TOKEN='` + R + `' && run --secret=` + R + ` --token ` + R + ` go`}},
		{"quoted value with spaces", []string{"sh", "-c", `DB_PASSWORD="a b c" ./run --api-key 'k k'`},
			[]string{"sh", "-c", `DB_PASSWORD="` + R + `" ./run --api-key '` + R + `'`}},
		{"mysql -p", []string{"/usr/bin/mysql", "-uroot", "-psecret", "-P3306", "db"},
			[]string{"/usr/bin/mysql", "-uroot", "-p" + R, "-P3306", "db"}},
		{"mysql -p prompts", []string{"mysql", "-p", "db"}, nil},
		{"-p elsewhere is a port", []string{"ssh", "-p2222", "host"}, nil},
		{"sshpass", []string{"sshpass", "-p", "pw", "ssh", "host"}, []string{"sshpass", "-p", R, "ssh", "host"}},
		{"curl user", []string{"curl", "-u", "bob:pw", "--user=al:x", "-ujo:y", "--proxy-user", "p:q", "http://h/"},
			[]string{"curl", "-u", "bob:" + R, "--user=al:" + R, "-ujo:" + R, "--proxy-user", "p:" + R, "http://h/"}},
		{"curl user without password", []string{"curl", "-u", "bob", "http://h/"}, nil},
		// Option names hiding secrets beyond *password and *token.
		{"more secret options", []string{"app", "--pwd=pw1", "--db-pass=pw2", "--db_pass", "pw3", "--private-key=0xabc", "--auth=u:p",
			"--access-key=AKIA1", "--secret-key=sk", "--aws-secret-access-key", "sak", "--credentials=c", "--basic-auth=u:p2", "--oauth2-bearer", "tok"},
			[]string{"app", "--pwd=" + R, "--db-pass=" + R, "--db_pass", R, "--private-key=" + R, "--auth=" + R,
				"--access-key=" + R, "--secret-key=" + R, "--aws-secret-access-key", R, "--credentials=" + R, "--basic-auth=" + R, "--oauth2-bearer", R}},
		{"redis server", []string{"redis-server", "--requirepass", "rp", "--masterauth", "ma"},
			[]string{"redis-server", "--requirepass", R, "--masterauth", R}},
		{"more secret options, next argument", []string{"ansible", "--private-key", "/k.pem", "-pwd", "pw", "--auth", "x"},
			[]string{"ansible", "--private-key", R, "-pwd", R, "--auth", R}},
		{"benign look-alikes", []string{"app", "--bypass=1", "--compass", "n", "--passes=3", "--author=me", "--oauth", "x", "--keyfile=k",
			"--private-key-file=/k", "--credentials-file", "/c", "--access-key-id=AKIA", "--password-file=/p", "--authority=a", "--pwdir=/d"}, nil},
		{"negated options are switches", []string{"psql", "--no-password", "db", "--skip-auth", "x", "--no-auth-token", "y"}, nil},
		// Secret headers by suffix.
		{"token and key headers", []string{"curl", "-H", "X-Vault-Token: s.abc", "-H", "PRIVATE-TOKEN: glpat", "-HX-Goog-Api-Key:g",
			"--header=Ocp-Apim-Subscription-Key: o", "-H", "X-Consul-Token:c", "-H", "Api-Key: k", "-H", "X-Client-Secret: cs"},
			[]string{"curl", "-H", "X-Vault-Token: " + R, "-H", "PRIVATE-TOKEN: " + R, "-HX-Goog-Api-Key:" + R,
				"--header=Ocp-Apim-Subscription-Key: " + R, "-H", "X-Consul-Token:" + R, "-H", "Api-Key: " + R, "-H", "X-Client-Secret: " + R}},
		{"vault token header in a shell string", []string{"sh", "-c", `curl -H "X-Vault-Token: hvs.x" http://v:8200/`},
			[]string{"sh", "-c", `curl -H "X-Vault-Token: ` + R + `" http://v:8200/`}},
		{"benign headers", []string{"curl", "-H", "Idempotency-Key: 1", "-H", "X-Request-Id: r", "-H", "Sec-WebSocket-Key: k",
			"-H", "X-Tokenizer: t", "-H", "Content-Type: application/json", "-H", "mytoken-name: x"}, nil},
		// JSON and forms.
		{"json password", []string{"curl", "-d", `{"user":"al","password":"hunter2"}`, "http://h/login"},
			[]string{"curl", "-d", `{"user":"al","password":"` + R + `"}`, "http://h/login"}},
		{"json keys", []string{"curl", "--data", `{"access_token": "at", "client_secret" : "cs", "apiKey":"k", "pin": 1234, "token":null, "nested":{"secret":"s"}}`},
			[]string{"curl", "--data", `{"access_token": "` + R + `", "client_secret" : "` + R + `", "apiKey":"` + R + `", "pin": 1234, "token":` + R + `, "nested":{"secret":"` + R + `"}}`}},
		{"json with escapes", []string{"sh", "-c", `curl -d "{\"password\":\"p w\",\"u\":1}" h`, `{"password":"a\"b","x":"y"}`},
			[]string{"sh", "-c", `curl -d "{\"password\":\"` + R + `\",\"u\":1}" h`, `{"password":"` + R + `","x":"y"}`}},
		{"python dict and header key", []string{"python3", "-c", `f({'password': 'p'}); g({"Authorization": "Bearer x"})`},
			[]string{"python3", "-c", `f({'password': '` + R + `'}); g({"Authorization": "` + R + `"})`}},
		{"benign json", []string{"curl", "-d", `{"user":"al","tokens":3,"password_policy":"strong","name":"token"}`}, nil},
		{"form body", []string{"curl", "-d", "user=al&password=pw&next=/", "--data-urlencode", "grant_type=x&client_secret=cs"},
			[]string{"curl", "-d", "user=al&password=" + R + "&next=/", "--data-urlencode", "grant_type=x&client_secret=" + R}},
		{"benign form", []string{"curl", "-d", "a=1&b=2&tokens=3"}, nil},
		// Authorization schemes outside a header.
		{"bare bearer and basic", []string{"app", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "--header-value=Basic Zm9vOmJhcg==", "bearer   ghp_abc123XYZ"},
			[]string{"app", "Bearer " + R, "--header-value=Basic " + R, "bearer   " + R}},
		{"bearer in a shell string", []string{"sh", "-c", `AUTH="Bearer abcd1234efgh"; curl -H "$AUTH" h`},
			[]string{"sh", "-c", `AUTH="Bearer ` + R + `"; curl -H "$AUTH" h`}},
		{"benign scheme words", []string{"echo", "Basic authentication", "bearer tokens", "Bearer", "Basic Auth", "basically 12345678", "use Bearer abc"}, nil},
		{"empty and odd", []string{"", "-", "--", "=", "-=", ":", "://", "a://@", "--=x", "X=", "=y"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got, changed := Args(in)
			if !slices.Equal(in, tc.in) {
				t.Fatalf("Args modified its input: %q", in)
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if !slices.Equal(got, want) {
				t.Errorf("Args(%q)\n got %q\nwant %q", tc.in, got, want)
			}
			if changed != (tc.want != nil) {
				t.Errorf("changed = %v", changed)
			}
			if !changed && len(in) > 0 && &got[0] != &in[0] {
				t.Errorf("nothing to hide, but a copy was returned")
			}
			// Hiding is idempotent: what was hidden stays as it is.
			if again, ch := Args(got); ch && !slices.Equal(again, got) {
				t.Errorf("second pass changed %q to %q", got, again)
			}
		})
	}
}

func TestSecretLastByte(t *testing.T) {
	for _, n := range append(secretNames[:], secretSuffixes[:]...) {
		for _, c := range []byte{n[len(n)-1], n[len(n)-1] &^ 0x20} {
			if !secretLastByte(c) {
				t.Errorf("secretLastByte(%q) is false: %q would never match", c, n)
			}
		}
	}
}

func TestEventCopiesOnlyWhatChanges(t *testing.T) {
	inner := &event.Event{
		Time: time.Unix(1, 0), Kind: event.KindExec,
		Process:   event.Process{PID: 2, Args: []string{"curl", "-u", "a:b", "http://h/"}},
		Ancestors: []event.Ancestor{{PID: 1, Args: []string{"bash"}}, {PID: 0, Args: []string{"sh", "-c", "PGPASSWORD=x psql"}}},
		Exec:      &event.Exec{},
	}
	alert := &event.Event{
		Kind:      event.KindAlert,
		Process:   inner.Process,
		Ancestors: inner.Ancestors,
		Alert:     &event.Alert{Rule: "r", Event: inner},
	}
	out := Event(alert)
	if out == alert || out.Alert == alert.Alert || out.Alert.Event == inner {
		t.Fatal("secrets to hide, but the event was not copied")
	}
	for _, ev := range []*event.Event{out, out.Alert.Event} {
		if ev.Process.Args[2] != "a:"+R || ev.Ancestors[1].Args[2] != "PGPASSWORD="+R+" psql" {
			t.Errorf("not hidden: %q %q", ev.Process.Args, ev.Ancestors[1].Args)
		}
		if &ev.Ancestors[0].Args[0] != &inner.Ancestors[0].Args[0] {
			t.Errorf("an unchanged argv was copied")
		}
	}
	if inner.Process.Args[2] != "a:b" || inner.Ancestors[1].Args[2] != "PGPASSWORD=x psql" {
		t.Errorf("the original event was modified: %q %q", inner.Process.Args, inner.Ancestors[1].Args)
	}
	if out.Alert.Rule != "r" || out.Alert.Event.Exec != inner.Exec {
		t.Errorf("the copy lost fields")
	}

	plain := &event.Event{Kind: event.KindExec, Process: event.Process{Args: []string{"ls"}}, Exec: &event.Exec{}}
	if Event(plain) != plain {
		t.Error("nothing to hide, but the event was copied")
	}
}

func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		"curl\x00-H\x00Authorization: Bearer x",
		"sh\x00-c\x00A_TOKEN='x' --password y https://u:p@h/?q#f",
		"mysql\x00-pX", "curl\x00-u\x00a:b", ":\x00://\x00-\x00=",
		"curl\x00-H\x00X-Vault-Token: t\x00-HPRIVATE-TOKEN:x\x00--private-key=k\x00--db-pass\x00p",
		"curl\x00-d\x00{\"password\":\"a\\\"b\",\"token\":1,\"o\":{\"secret\":[1]}}",
		`sh` + "\x00-c\x00" + `curl -d "{\"pwd\":\"x\"}" -d 'u=a&password=b' 'http://h/#frag' "Bearer abcd1234"`,
		"x\x00Basic Zm9vOmJhcg==\x00bearer\x00\"'\\:\x00{'auth':'x'}\x00a=1&&b=2&",
		"x\x00\\\":\x00\":\"\x00'x':\\\"y\x00#\x00https://h#\x00http://h?#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		in := slices.Clone(args)
		out, changed := Args(args)
		if !slices.Equal(in, args) {
			t.Fatalf("input modified")
		}
		if len(out) != len(in) {
			t.Fatalf("%d args in, %d out", len(in), len(out))
		}
		if !changed && !slices.Equal(out, in) {
			t.Fatalf("unchanged, but different")
		}
		for i := range out {
			if changed && out[i] != in[i] && !strings.Contains(out[i], Marker) {
				t.Fatalf("argument %d changed without a marker: %q -> %q", i, in[i], out[i])
			}
		}
		// Hiding is idempotent, at least without quotes, whose pairing
		// is guessed.
		if again, _ := Args(out); !strings.ContainsAny(joined, "'\"\\") && !slices.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

func BenchmarkArgs(b *testing.B) {
	argv := []string{"/usr/lib/jvm/bin/java", "-Xmx512m", "-Dfile.encoding=UTF-8", "-jar", "/opt/app/app.jar",
		"--server.port=8080", "--spring.profiles.active=prod", "/var/log/app", "-v"}
	b.ReportAllocs()
	for b.Loop() {
		if _, changed := Args(argv); changed {
			b.Fatal("changed")
		}
	}
}
