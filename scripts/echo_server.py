"""HTTP server for the netns tests: answers every GET with the client's address,
so a test sees which source address arrived after NAT."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # HTTPServer.server_bind asks DNS for the host's name (socket.getfqdn):
    # inside a sandbox that is a query to an address the test never set up,
    # and a 5 s wait. Bind without it.
    def server_bind(self):
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


server = Server((sys.argv[1], int(sys.argv[2])), Handler)
print(f"echo server listening on {sys.argv[1]}:{sys.argv[2]}", flush=True)
server.serve_forever()
