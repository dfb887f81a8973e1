"""The Python http.server of vigil's end-to-end tests: the routes of goserver.

Prints the listening port on its first line of stdout.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LINE = b"x" * 99 + b"\n"


def body_of(n):
    return (LINE * (n // len(LINE) + 1))[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):
        pass

    def send(self, code, body, chunked=False):
        self.send_response(code)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        n = int(parse_qs(url.query).get("n", ["0"])[0])
        if url.path == "/hello":
            self.send(200, b"hello")
        elif url.path.startswith("/status/"):
            code = int(url.path[len("/status/"):])
            self.send(code, b"status %d" % code)
        elif url.path == "/big":
            self.send(200, body_of(n))
        elif url.path == "/chunked":
            self.send(200, body_of(n), chunked=True)
        else:
            self.send(404, b"not found")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.send(200, str(n).encode())


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
