package http1

// Budget bounds the bytes the parsers of many connections hold in header
// blocks that span chunks: a client that sends a header block a byte at a
// time (slowloris), or thousands of connections each midway through a
// large one, would otherwise hold up to MaxHeaderBytes per parser. When a
// parser needs more than is left, the partial blocks held longest are
// given up, oldest first, each counted in its parser's Stats.OverBudget,
// until there is room: a slow sender loses its partial message before a
// connection that began one just now. A parser whose own block is the
// oldest gives up its own.
//
// Not safe for concurrent use: the parsers it serves are fed from one
// goroutine.
type Budget struct {
	limit, used int
	// Holders in the order they began to buffer, oldest first.
	oldest, newest *Parser
}

// NewBudget returns a budget of limit bytes; a limit below MaxHeaderBytes
// is raised to it, so that one message always fits.
func NewBudget(limit int) *Budget {
	return &Budget{limit: max(limit, MaxHeaderBytes)}
}

// Used returns the bytes held now.
func (b *Budget) Used() int { return b.used }

// reserve makes room for p to hold n more bytes, giving up the oldest
// partial blocks as needed. It returns false when p's own block was given
// up (it was the oldest).
func (b *Budget) reserve(p *Parser, n int) bool {
	for b.used+n > b.limit {
		q := b.oldest
		q.overBudget()
		if q == p {
			return false
		}
	}
	if p.held == 0 {
		// p begins to hold: it is the newest holder.
		p.older, p.newer = b.newest, nil
		if b.newest != nil {
			b.newest.newer = p
		} else {
			b.oldest = p
		}
		b.newest = p
	}
	p.held += n
	b.used += n
	return true
}

// release returns all that p holds.
func (b *Budget) release(p *Parser) {
	if p.held == 0 {
		return
	}
	b.used -= p.held
	p.held = 0
	if p.older != nil {
		p.older.newer = p.newer
	} else {
		b.oldest = p.newer
	}
	if p.newer != nil {
		p.newer.older = p.older
	} else {
		b.newest = p.older
	}
	p.older, p.newer = nil, nil
}
