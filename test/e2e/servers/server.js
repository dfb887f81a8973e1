// The Node.js server of vigil's end-to-end tests: the routes of goserver.
// Prints the listening port on its first line of stdout.
'use strict';
const http = require('http');

const LINE = 'x'.repeat(99) + '\n';
const bodyOf = (n) => LINE.repeat(Math.ceil(n / LINE.length)).slice(0, n);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const n = parseInt(url.searchParams.get('n') || '0', 10);
  if (req.method === 'POST' && url.pathname === '/echo') {
    let len = 0;
    req.on('data', (c) => { len += c.length; });
    req.on('end', () => { res.end(String(len)); });
    return;
  }
  if (url.pathname === '/hello') {
    res.end('hello');
  } else if (url.pathname.startsWith('/status/')) {
    const code = parseInt(url.pathname.slice(8), 10);
    res.statusCode = code;
    res.end(`status ${code}`);
  } else if (url.pathname === '/big') {
    const body = bodyOf(n);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  } else if (url.pathname === '/chunked') {
    const body = bodyOf(n);
    for (let i = 0; i < body.length; i += 1000) res.write(body.slice(i, i + 1000));
    res.end();
  } else {
    res.statusCode = 404;
    res.end('not found');
  }
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port);
});
