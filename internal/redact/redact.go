// Package redact hides secrets in command lines before vigil exports them:
// credentials passed as arguments are common (curl -H "Authorization:
// Bearer ...", mysql -psecret, --password=..., PGPASSWORD=... in a shell
// command, https://user:pass@host/?token=...), and exec events and alerts
// carry the full argv of a process and of its ancestors.
//
// Only what leaves vigil is redacted: rules are evaluated on the real
// arguments, so a secret-looking argument cannot hide anything from a rule.
//
// What is hidden, in any argument and inside shell command strings:
//   - the value of the headers Authorization, Proxy-Authorization, Cookie,
//     Set-Cookie, Api-Key, Token, and of those whose name ends in -Token,
//     -Api-Key, -ApiKey, -Auth-Key, -Access-Key, -Subscription-Key, -Secret
//     or -Password (X-Vault-Token, X-Api-Key, PRIVATE-TOKEN):
//     "Authorization: <redacted>";
//   - the password of a URL's user info, its query string and its fragment
//     ("https://user:<redacted>@host/path?<redacted>#<redacted>");
//   - the value of options whose name is a secret (see secretOption: ends
//     in password, passwd, passphrase, secret, token, apikey, api-key,
//     -pass, -pwd, -auth, bearer, credentials, private-key, access-key or
//     secret-key, or is pass, pwd, auth, passin, passout, requirepass or
//     masterauth, unless it starts with no-, skip-, disable- or without-),
//     given as --name=value (or -name=value), or as the next argument when
//     that does not start with a dash (so "psql --password db" hides db: a
//     little too much rather than too little);
//   - the value of NAME=value words whose NAME contains PASSWORD, PASSWD,
//     SECRET, TOKEN, APIKEY or API_KEY, or ends in _PWD (any case), and of
//     the later name=value pairs of a form body (user=a&password=b) whose
//     name is a secret option's;
//   - the value of a quoted JSON (or Python) key that is a secret option's
//     or header's name: {"password": "<redacted>"}, {\"token\":\"...\"};
//   - credentials after the schemes Bearer and Basic anywhere
//     ("Bearer <redacted>"), when they look like one (8 or more bytes with
//     a digit, '=' padding or mixed case), so "Basic authentication" stays;
//   - mysql's -pVALUE (mysql, mariadb and their tools), sshpass's -p, and
//     the password of curl's -u/--user/--proxy-user user:password.
//
// The functions never modify their input (the process table shares argv
// slices) and allocate only when there is something to hide.
package redact

import (
	"path"
	"strings"

	"github.com/vigil-dev/vigil/internal/event"
)

// Marker replaces every hidden value.
const Marker = "<redacted>"

// Event returns ev with secrets in every argv it carries hidden: its
// process's, its ancestors', and those of the event an alert carries. It
// returns ev itself when there is nothing to hide, else a copy that shares
// all it does not change.
func Event(ev *event.Event) *event.Event {
	args, argsChanged := Args(ev.Process.Args)
	ancestors, ancChanged := ancestorsOf(ev.Ancestors)
	var alert *event.Alert
	if ev.Alert != nil && ev.Alert.Event != nil {
		if inner := Event(ev.Alert.Event); inner != ev.Alert.Event {
			a := *ev.Alert
			a.Event = inner
			alert = &a
		}
	}
	if !argsChanged && !ancChanged && alert == nil {
		return ev
	}
	out := *ev
	out.Process.Args = args
	out.Ancestors = ancestors
	if alert != nil {
		out.Alert = alert
	}
	return &out
}

func ancestorsOf(in []event.Ancestor) ([]event.Ancestor, bool) {
	var out []event.Ancestor
	for i := range in {
		args, changed := Args(in[i].Args)
		if !changed {
			continue
		}
		if out == nil {
			out = append([]event.Ancestor(nil), in...)
		}
		out[i].Args = args
	}
	if out == nil {
		return in, false
	}
	return out, true
}

// Args returns args with secrets hidden, and whether anything was. When
// nothing was, it returns args itself.
func Args(args []string) ([]string, bool) {
	var out []string
	set := func(i int, s string) {
		if out == nil {
			out = append([]string(nil), args...)
		}
		out[i] = s
	}
	var tool string
	if len(args) > 0 {
		tool = path.Base(args[0])
	}
	mysql, curl := isMySQL(tool), tool == "curl"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if i > 0 && len(a) > 2 && strings.HasPrefix(a, "-p") && (mysql || tool == "sshpass") {
			set(i, "-p"+Marker)
			continue
		}
		if i > 0 && tool == "sshpass" && a == "-p" && i+1 < len(args) {
			i++
			set(i, Marker)
			continue
		}
		if i > 0 && curl {
			switch {
			case a == "-u" || a == "-U" || a == "--user" || a == "--proxy-user":
				if i+1 < len(args) {
					if r, ok := userPassword(args[i+1]); ok {
						set(i+1, r)
					}
					i++
				}
				continue
			case strings.HasPrefix(a, "--user=") || strings.HasPrefix(a, "--proxy-user="):
				eq := strings.IndexByte(a, '=') + 1
				if r, ok := userPassword(a[eq:]); ok {
					set(i, a[:eq]+r)
				}
				continue
			case len(a) > 2 && (strings.HasPrefix(a, "-u") || strings.HasPrefix(a, "-U")):
				if r, ok := userPassword(a[2:]); ok {
					set(i, a[:2]+r)
				}
				continue
			}
		}
		r, takesNext := redactString(a)
		if r != a {
			set(i, r)
		}
		if takesNext && i+1 < len(args) && args[i+1] != "" && args[i+1][0] != '-' {
			i++
			set(i, Marker)
		}
	}
	if out == nil {
		return args, false
	}
	return out, true
}

// userPassword hides the password of curl's user:password.
func userPassword(v string) (string, bool) {
	user, _, ok := strings.Cut(v, ":")
	if !ok {
		return v, false
	}
	return user + ":" + Marker, true
}

func isMySQL(tool string) bool {
	switch tool {
	case "mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck",
		"mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import", "mariadb-show", "mariadb-check":
		return true
	}
	return false
}

// span is a part of a string to replace with Marker.
type span struct{ from, to int }

// redactString hides the secrets in one argument. takesNext reports that
// the argument is, as a whole, a secret option whose value is the next
// argument.
func redactString(s string) (out string, takesNext bool) {
	if !mayHide(s) {
		return s, false // most arguments: nothing any rule below looks at
	}
	var spans spanList
	add := spans.add
	// Headers, URLs and JSON keys: at each colon.
	for i := strings.IndexByte(s, ':'); i >= 0; i = nextByte(s, ':', i+1) {
		if strings.HasPrefix(s[i:], "://") {
			urlSpans(s, i, add)
			continue
		}
		if headerBefore(s, i) {
			from := i + 1
			for from < len(s) && s[from] == ' ' {
				from++
			}
			if to := headerValueEnd(s, from); from < to {
				add(from, to)
				continue
			}
		}
		if jsonKeyBefore(s, i) {
			add(jsonValue(s, i+1))
		}
	}
	// Credentials of an authorization scheme, in a header or not.
	schemeSpans(s, add)
	// Options and NAME=value words: token by token.
	tokens := 0
	for start := 0; start < len(s); {
		for start < len(s) && isSpace(s[start]) {
			start++
		}
		if start >= len(s) {
			break
		}
		end := start
		for end < len(s) && !isSpace(s[end]) {
			end++
		}
		tokens++
		tok := s[start:end]
		body := strings.TrimLeft(tok, "'\"")
		off := start + len(tok) - len(body)
		if opt, ok := optionName(body); ok {
			name, _, hasValue := strings.Cut(opt, "=")
			if isOptionName(name) && secretOption(name) {
				if hasValue {
					add(valueSpan(s, off+len(body)-len(opt)+len(name)+1, end))
				} else if next := nextToken(s, end); next.from < next.to {
					if s[next.from] != '-' {
						add(valueSpan(s, next.from, next.to))
					}
				} else if tokens == 1 && off == 0 && end == len(s) {
					takesNext = true
				}
			}
		} else if name, _, ok := strings.Cut(body, "="); ok && isEnvName(name) && secretEnv(name) {
			add(valueSpan(s, off+len(name)+1, end))
		}
		formSpans(s, off, end, add)
		start = end
	}
	if len(spans) == 0 {
		return s, takesNext
	}
	return apply(s, spans), takesNext
}

// mayHide reports whether s holds a byte that every rule of redactString
// needs: ':', '=', '-', a space or a tab.
func mayHide(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':', '=', '-', ' ', '\t':
			return true
		}
	}
	return false
}

// spanList collects the parts of a string to hide.
type spanList []span

func (l *spanList) add(from, to int) {
	if from < to {
		*l = append(*l, span{from, to})
	}
}

func nextByte(s string, c byte, from int) int {
	if from >= len(s) {
		return -1
	}
	j := strings.IndexByte(s[from:], c)
	if j < 0 {
		return -1
	}
	return from + j
}

// urlSpans adds the password and the query of the URL whose "://" is at i.
func urlSpans(s string, i int, add func(from, to int)) {
	auth := i + 3
	end := auth
	for end < len(s) && !urlEnd(s[end]) && s[end] != '/' && s[end] != '?' && s[end] != '#' {
		end++
	}
	if at := strings.LastIndexByte(s[auth:end], '@'); at >= 0 {
		if c := strings.IndexByte(s[auth:auth+at], ':'); c >= 0 {
			add(auth+c+1, auth+at)
		}
	}
	p := end
	for p < len(s) && !urlEnd(s[p]) && s[p] != '?' && s[p] != '#' {
		p++
	}
	if p < len(s) && s[p] == '?' {
		q := p + 1
		for q < len(s) && !urlEnd(s[q]) && s[q] != '#' {
			q++
		}
		add(p+1, q)
		p = q
	}
	// The fragment: OAuth's implicit flow puts access tokens there.
	if p < len(s) && s[p] == '#' {
		q := p + 1
		for q < len(s) && !urlEnd(s[q]) {
			q++
		}
		add(p+1, q)
	}
}

// urlEnd reports whether c ends a URL in an argument: a space, a quote,
// or the backslash of an escaped quote (\" in a shell string).
func urlEnd(c byte) bool { return isSpace(c) || isQuote(c) || c == '\\' }

// secretHeaders are the headers whose values are hidden, lower case;
// secretHeaderSuffixes end the names of others (X-Vault-Token,
// X-Goog-Api-Key, Ocp-Apim-Subscription-Key).
var (
	secretHeaders        = [...]string{"authorization", "proxy-authorization", "cookie", "set-cookie", "api-key", "apikey", "token"}
	secretHeaderSuffixes = [...]string{"-token", "-api-key", "-apikey", "-auth-key", "-access-key", "-subscription-key", "-secret", "-password"}
)

// headerBefore reports whether a secret header's name ends at the colon at
// i, starting the string or after a space, a quote, '=' (--header=...) or
// curl's -H.
func headerBefore(s string, i int) bool {
	from := i
	for from > 0 && isHeaderNameByte(s[from-1]) {
		from--
	}
	if from > 0 && !isSpace(s[from-1]) && !isQuote(s[from-1]) && s[from-1] != '=' {
		return false
	}
	name := s[from:i]
	if len(name) > 2 && name[0] == '-' && name[1] == 'H' {
		name = name[2:] // curl -HName:value
	}
	return secretHeader(name)
}

func isHeaderNameByte(c byte) bool {
	return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func secretHeader(name string) bool {
	for _, h := range secretHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	for _, suf := range secretHeaderSuffixes {
		if len(name) > len(suf) && strings.EqualFold(name[len(name)-len(suf):], suf) {
			return true
		}
	}
	return false
}

// headerValueEnd is where a header value starting at from ends: at a quote
// or a line end, else at the end of the string (a header value may hold
// spaces: "Bearer x"), less the spaces that end it.
func headerValueEnd(s string, from int) int {
	to := len(s)
	if j := strings.IndexAny(s[from:], "'\"\n\r"); j >= 0 {
		to = from + j
	}
	for to > from && isSpace(s[to-1]) {
		to--
	}
	return to
}

// isOptionName reports whether name, what follows an option's dashes, is
// made of letters, digits, '.', '_' and '-' only.
func isOptionName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !isKeyByte(name[i]) {
			return false
		}
	}
	return true
}

// jsonKeyBefore reports whether the colon at i follows a quoted key that
// names a secret, as in {"password": "x"}, {'token': 'x'} (Python) or
// {\"secret\":\"x\"} (JSON inside a shell string).
func jsonKeyBefore(s string, i int) bool {
	j := i
	for j > 0 && isSpace(s[j-1]) {
		j--
	}
	if j == 0 || !isQuote(s[j-1]) {
		return false
	}
	q := s[j-1]
	end := j - 1
	if end > 0 && s[end-1] == '\\' {
		end--
	}
	from := end
	for from > 0 && isKeyByte(s[from-1]) {
		from--
	}
	if from == 0 || from == end {
		return false
	}
	open := from - 1
	openEscaped := open > 0 && s[open-1] == '\\'
	if s[open] != q || openEscaped != (end < j-1) {
		return false
	}
	name := s[from:end]
	return secretOption(name) || secretHeader(name)
}

func isKeyByte(c byte) bool { return isHeaderNameByte(c) || c == '.' }

// jsonValue is the value after a JSON key's colon (at from-1): the inside
// of a quoted string (\" escapes and all), or a bare number or word.
func jsonValue(s string, from int) (int, int) {
	for from < len(s) && isSpace(s[from]) {
		from++
	}
	escaped := from < len(s) && s[from] == '\\'
	if escaped {
		from++
	}
	if from < len(s) && isQuote(s[from]) {
		q := s[from]
		from++
		for to := from; to < len(s); to++ {
			switch {
			case s[to] == '\\' && !escaped && to+1 < len(s):
				to++ // an escaped character inside the string
			case s[to] == '\\' && escaped && to+1 < len(s) && s[to+1] == q:
				return from, to
			case s[to] == q && !escaped:
				return from, to
			}
		}
		return from, len(s)
	}
	if from < len(s) && (s[from] == '{' || s[from] == '[') {
		return from, from // an object or array: its own keys are looked at
	}
	to := from
	for to < len(s) && !isSpace(s[to]) && !isQuote(s[to]) && s[to] != ',' && s[to] != '}' && s[to] != ']' && s[to] != '\\' {
		to++
	}
	return from, to
}

// schemeSpans adds the credentials that follow the authorization schemes
// Bearer and Basic, in any case, anywhere in s: "Bearer eyJhbGciOi...",
// "basic Zm9vOmJhcg==". Words that follow the scheme in prose ("Basic
// authentication") are not credential-shaped and stay.
func schemeSpans(s string, add func(from, to int)) {
	for i := 0; i+len("basic ") < len(s); i++ {
		n := 0
		switch {
		case s[i]|0x20 == 'b' && strings.EqualFold(s[i:i+5], "basic"):
			n = 5
		case s[i]|0x20 == 'b' && i+6 < len(s) && strings.EqualFold(s[i:i+6], "bearer"):
			n = 6
		default:
			continue
		}
		if i > 0 && !isSpace(s[i-1]) && !isQuote(s[i-1]) && s[i-1] != '=' && s[i-1] != ':' {
			continue
		}
		from := i + n
		if !isSpace(s[from]) {
			continue
		}
		for from < len(s) && isSpace(s[from]) {
			from++
		}
		to := from
		for to < len(s) && isToken68Byte(s[to]) {
			to++
		}
		for to < len(s) && s[to] == '=' {
			to++
		}
		if credentialShaped(s[from:to]) {
			add(from, to)
		}
		i = to - 1
	}
}

// isToken68Byte reports whether c may be in RFC 9110's token68, the syntax
// of credentials, less its final '=' padding.
func isToken68Byte(c byte) bool {
	return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// credentialShaped reports whether a token68 looks like a credential rather
// than a word: 8 or more bytes, with a digit, '=' padding, or both lower-
// and upper-case letters after its first.
func credentialShaped(t string) bool {
	if len(t) < 8 {
		return false
	}
	if t[len(t)-1] == '=' {
		return true
	}
	lower, upper := false, false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			return true
		case i > 0 && c >= 'a' && c <= 'z':
			lower = true
		case i > 0 && c >= 'A' && c <= 'Z':
			upper = true
		}
	}
	return lower && upper
}

// formSpans adds the secret values of the name=value pairs after the first
// in the token s[from:end] joined by '&', as in a form body
// ("user=a&password=b"); the first pair is a NAME=value word.
func formSpans(s string, from, end int, add func(from, to int)) {
	tok := s[from:end]
	for k := strings.IndexByte(tok, '&'); k >= 0; {
		part := tok[k+1:]
		next := strings.IndexByte(part, '&')
		if next >= 0 {
			part = part[:next]
		}
		if name, _, ok := strings.Cut(part, "="); ok && isEnvName(name) && secretOption(name) {
			v := from + k + 1 + len(name) + 1
			add(v, trimQuotesEnd(s, v, v+len(part)-len(name)-1))
		}
		if next < 0 {
			break
		}
		k += 1 + next
	}
}

// optionName returns what follows the dashes of a -x or --x option.
func optionName(tok string) (string, bool) {
	switch {
	case strings.HasPrefix(tok, "--"):
		tok = tok[2:]
	case strings.HasPrefix(tok, "-"):
		tok = tok[1:]
	default:
		return "", false
	}
	if tok == "" || tok[0] == '-' || tok[0] == '=' {
		return "", false
	}
	return tok, true
}

// secretNames are option (and JSON key) names that hold a secret as they
// are; secretSuffixes end others. A name beginning with a negation
// (--no-password) is a switch that turns a secret off, never one.
var (
	secretNames    = [...]string{"pass", "passin", "passout", "pwd", "auth", "requirepass", "masterauth"}
	secretSuffixes = [...]string{
		"password", "passwd", "passphrase", "secret", "token", "apikey", "api-key", "api_key",
		"-pass", "_pass", "-pwd", "_pwd", "-auth", "_auth", "bearer", "credentials",
		"private-key", "private_key", "privatekey", "access-key", "access_key", "accesskey",
		"secret-key", "secret_key", "secretkey",
	}
	negations = [...]string{"no-", "no_", "skip-", "disable-", "without-"}
)

func secretOption(name string) bool {
	if name == "" || !secretLastByte(name[len(name)-1]) {
		return false // most names; a lookup, not 32 comparisons
	}
	return secretName(name) && !negated(name)
}

func secretName(name string) bool {
	last := name[len(name)-1] | 0x20
	for _, n := range secretNames {
		if n[len(n)-1] == last && strings.EqualFold(name, n) {
			return true
		}
	}
	for _, suf := range secretSuffixes {
		if suf[len(suf)-1] == last && len(name) >= len(suf) && strings.EqualFold(name[len(name)-len(suf):], suf) {
			return true
		}
	}
	return false
}

func negated(name string) bool {
	for _, n := range negations {
		if len(name) > len(n) && strings.EqualFold(name[:len(n)], n) {
			return true
		}
	}
	return false
}

// secretLastByte reports whether c, in any case, ends one of secretNames
// or secretSuffixes (a test keeps it in step with them).
func secretLastByte(c byte) bool {
	switch c | 0x20 {
	case 'd', 'e', 'h', 'n', 'r', 's', 't', 'y':
		return true
	}
	return false
}

var secretEnvWords = [...]string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "API_KEY"}

func secretEnv(name string) bool {
	if len(name) > 4 && strings.EqualFold(name[len(name)-4:], "_PWD") { // MYSQL_PWD; not PWD, the working directory
		return true
	}
	for _, w := range secretEnvWords {
		if containsFold(name, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains upper (upper-case ASCII), in any case.
func containsFold(s, upper string) bool {
	for i := 0; i+len(upper) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(upper)], upper) {
			return true
		}
	}
	return false
}

// isEnvName reports whether s is a shell variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// nextToken is the span of the token after position end, if any.
func nextToken(s string, end int) span {
	from := end
	for from < len(s) && isSpace(s[from]) {
		from++
	}
	to := from
	for to < len(s) && !isSpace(s[to]) {
		to++
	}
	return span{from, to}
}

// valueSpan is the value that starts at from in the token ending at end:
// a quoted value runs to its closing quote (spaces and all), quotes kept;
// a bare one to the token's end, less the quotes and a ';' that close the
// shell words around it.
func valueSpan(s string, from, end int) (int, int) {
	if from < end && isQuote(s[from]) {
		q := s[from]
		from++
		if j := strings.IndexByte(s[from:], q); j >= 0 {
			return from, from + j
		}
		return from, end
	}
	return from, trimQuotesEnd(s, from, end)
}

// trimQuotesEnd moves to back over closing quotes and ';', so that they stay.
func trimQuotesEnd(s string, from, to int) int {
	for to > from && (isQuote(s[to-1]) || s[to-1] == ';') {
		to--
	}
	return to
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isQuote(c byte) bool { return c == '\'' || c == '"' }

// apply replaces spans (any order, possibly overlapping) with Marker.
func apply(s string, spans []span) string {
	// Few spans: sort by insertion.
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].from < spans[j-1].from; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		if sp.to <= at {
			continue // inside a span already replaced
		}
		if sp.from < at {
			sp.from = at
		}
		b.WriteString(s[at:sp.from])
		if !strings.HasSuffix(b.String(), Marker) {
			b.WriteString(Marker)
		}
		at = sp.to
	}
	b.WriteString(s[at:])
	return b.String()
}
