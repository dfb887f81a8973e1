package http1

// MaxPipelined bounds the requests a response parser remembers while their
// responses are outstanding. Beyond it the oldest is forgotten.
const MaxPipelined = 64

// responseTo is what a response's framing needs to know about its request.
type responseTo uint8

const (
	toOther   responseTo = iota
	toHead               // no body, whatever the headers say
	toConnect            // a 2xx turns the connection into a tunnel
)

func responseToMethod(method string) responseTo {
	switch method {
	case "HEAD":
		return toHead
	case "CONNECT":
		return toConnect
	}
	return toOther
}

// expectQueue is the FIFO of requests awaiting a response. Calls to
// ExpectResponseTo are numbered from 1; the queue holds the most recent ones
// still unanswered, which are always consecutive numbers ending at calls,
// since entries only ever leave from the front.
type expectQueue struct {
	kinds [MaxPipelined]responseTo
	head  int
	n     int
	calls uint64
}

func (q *expectQueue) push(k responseTo) {
	q.calls++
	if q.n == MaxPipelined {
		q.head = (q.head + 1) % MaxPipelined
		q.n--
	}
	q.kinds[(q.head+q.n)%MaxPipelined] = k
	q.n++
}

// pop returns the oldest pending request and its call number, or number 0
// when none is pending.
func (q *expectQueue) pop() (responseTo, uint64) {
	if q.n == 0 {
		return toOther, 0
	}
	k := q.kinds[q.head]
	num := q.calls - uint64(q.n) + 1
	q.head = (q.head + 1) % MaxPipelined
	q.n--
	return k, num
}

// keepNewest forgets every pending request but the most recent one.
func (q *expectQueue) keepNewest() {
	if q.n > 1 {
		q.head = (q.head + q.n - 1) % MaxPipelined
		q.n = 1
	}
}
