#!/usr/bin/env python3
"""A webhook receiver for the lab's Alertmanager: every POST body (Alertmanager's webhook JSON)
is appended as one line to FILE and answered 200.

usage: webhook_receiver.py ADDRESS PORT FILE
Runs until killed. Bodies over 1 MiB are refused (413). Python 3 stdlib only."""
import http.server
import json
import sys

MAX_BODY = 1 << 20


def main():
    address, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {"unparsed": body.decode("utf-8", "replace")}
            with open(out, "a") as f:
                f.write(json.dumps({"path": self.path, "body": doc}) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((address, port), Handler)
    print(f"webhook receiver on {address}:{port}, writing {out}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
