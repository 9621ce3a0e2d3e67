#!/usr/bin/env python3
"""A DNS relay that delays every reply (this kernel has no netem): listens on LISTEN for UDP and
TCP, forwards each message at once to UPSTREAM, and sends each reply back after a delay drawn
uniformly from [LO, HI] seconds, as a slow link or a loaded server would.

Over TCP the messages are read as length-framed DNS messages; each reply is due at its arrival
plus its own delay, and replies keep their order (one goes out at its due time or right after
the one before it), so pipelined queries take one delay, sequential ones one delay each. Over
UDP every reply is delayed on its own. One log line per reply ("tcp reply ... delayed 2.31s").
Bounded: at most 64 TCP connections and 256 UDP queries in flight (beyond that, closed or
dropped); an upstream that does not answer within 5 s is given up. Runs until SIGTERM.

usage: delay_relay.py LISTEN_ADDR:PORT UPSTREAM_ADDR:PORT LO HI
Python 3 stdlib only.
"""
import asyncio
import random
import signal
import sys
import time

MAX_TCP = 64
MAX_UDP = 256
UPSTREAM_TIMEOUT = 5.0


def hostport(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


class Relay:
    def __init__(self, upstream, lo, hi):
        self.upstream = upstream
        self.lo, self.hi = lo, hi
        self.tcp_open = 0
        self.udp_open = 0
        self.udp = None

    def delay(self):
        return random.uniform(self.lo, self.hi)

    def log(self, text):
        print(text, flush=True)

    # --- TCP --------------------------------------------------------------------------------
    async def tcp_client(self, reader, writer):
        if self.tcp_open >= MAX_TCP:
            writer.close()
            return
        self.tcp_open += 1
        up_w = None
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream),
                                                UPSTREAM_TIMEOUT)
            replies = asyncio.Queue()

            async def forward():  # client -> upstream, at once
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    up_w.write(data)
                    await up_w.drain()

            async def collect():  # upstream -> queue, each reply with its due time
                try:
                    while True:
                        head = await up_r.readexactly(2)
                        body = await up_r.readexactly(int.from_bytes(head, "big"))
                        d = self.delay()
                        await replies.put((time.monotonic() + d, d, head + body))
                except asyncio.IncompleteReadError:
                    pass
                await replies.put(None)

            async def deliver():  # queue -> client, in order, each at its due time
                last = 0.0
                while True:
                    item = await replies.get()
                    if item is None:
                        break
                    due, d, msg = item
                    due = max(due, last)
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    writer.write(msg)
                    await writer.drain()
                    last = due
                    self.log(f"tcp reply {len(msg) - 2} bytes delayed {d:.2f}s")

            tasks = [asyncio.ensure_future(t) for t in (forward(), collect(), deliver())]
            # The client going away ends it all; the upstream closing ends it once delivered.
            await asyncio.wait([tasks[0], tasks[2]], return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.tcp_open -= 1
            for w in (writer, up_w):
                if w is not None:
                    w.close()

    # --- UDP --------------------------------------------------------------------------------
    def udp_query(self, data, addr):
        if self.udp_open >= MAX_UDP:
            return
        self.udp_open += 1
        asyncio.ensure_future(self._udp_query(data, addr))

    async def _udp_query(self, data, addr):
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, reply, _):
                if not answer.done():
                    answer.set_result(reply)
        transport = None
        try:
            transport, _ = await loop.create_datagram_endpoint(Upstream,
                                                               remote_addr=self.upstream)
            transport.sendto(data)
            reply = await asyncio.wait_for(answer, UPSTREAM_TIMEOUT)
            d = self.delay()
            await asyncio.sleep(d)
            self.udp.sendto(reply, addr)
            self.log(f"udp reply {len(reply)} bytes delayed {d:.2f}s")
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.udp_open -= 1
            if transport is not None:
                transport.close()


async def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    listen, upstream = hostport(sys.argv[1]), hostport(sys.argv[2])
    relay = Relay(upstream, float(sys.argv[3]), float(sys.argv[4]))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_signal_handler(signal.SIGINT, lambda: stop.done() or stop.set_result(None))

    class Front(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            relay.udp_query(data, addr)
    relay.udp, _ = await loop.create_datagram_endpoint(Front, local_addr=listen)
    server = await asyncio.start_server(relay.tcp_client, *listen)
    relay.log(f"relaying {sys.argv[1]} -> {sys.argv[2]}, replies delayed "
              f"{relay.lo}-{relay.hi}s")
    await stop
    server.close()
    relay.udp.close()


if __name__ == "__main__":
    asyncio.run(main())
