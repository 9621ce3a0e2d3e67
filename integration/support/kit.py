"""Small helpers the daemon's integration tests share: free ports, bounded waits, and a TCP
endpoint that can be opened and closed (a probe target that comes and goes).

Import with `sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))`.
"""
import signal
import socket
import subprocess
import threading
import time


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def stop_process(proc, timeout=10):
    """SIGTERM to a process this test started (by its Popen), SIGKILL if it does not exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def wait_until(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


class Listener:
    """A TCP endpoint on a fixed address: healthy while open; close() and open() again."""

    def __init__(self, host):
        self.host, self.port = host, free_port(host)
        self.sock = None
        self.thread = None
        self.open()

    def open(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                sock.bind((self.host, self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    sock.close()
                    raise
                time.sleep(0.05)
        sock.listen(64)
        sock.settimeout(0.1)
        self.sock = sock
        self.thread = threading.Thread(target=self.run, args=(sock,), daemon=True)
        self.thread.start()

    def run(self, sock):
        while self.sock is sock:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                continue

    def close(self):
        sock, self.sock = self.sock, None
        if self.thread:
            self.thread.join(timeout=5)
        if sock:
            sock.close()
