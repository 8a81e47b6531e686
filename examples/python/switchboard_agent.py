#!/usr/bin/env python3
"""
A complete Switchboard service instance in Python, standard library only.

It speaks the NATS client protocol itself over one asyncio TCP socket (INFO, CONNECT, SUB, UNSUB, PUB,
HPUB, MSG, HMSG, PING, PONG) so that everything Switchboard asks of a service is visible here, in the
order docs/PROTOCOL.md section 3 lists it. With a NATS client library (nats-py, nats.go, ...) the `Nats`
class below is replaced by the library; the `Agent` class stays the same.

    python3 examples/python/switchboard_agent.py --servers nats://127.0.0.1:4222 --service hello

Endpoints: `greet` ({"name": "Ada"} -> {"greeting": "hello Ada", "from": <instance id>}), `echo` (returns
its payload), `sleep` ({"ms": 200}: answers after that long, at most 10 s; for drain tests) and `fail`
(answers the service's own error code TEAPOT). Prints `READY <instance id>` once announced.
SIGTERM or SIGINT: a graceful stop (last metrics, leave, unsubscribe, finish in-flight requests, close).

test/integration/python-agent.test.ts runs this file against a real nats-server and coordinator and calls
it with Switchboard's client.
"""
import argparse
import asyncio
import collections
import json
import random
import re
import signal
import sys
import time
import uuid
from urllib.parse import urlparse

TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Error code -> NATS micro status (docs/PROTOCOL.md section 6); a service's own codes are 500.
STATUS = {"BAD_REQUEST": 400, "NOT_FOUND": 404, "PAYLOAD_TOO_LARGE": 413, "OVERLOADED": 429,
          "INTERNAL": 500, "UNAVAILABLE": 503, "TIMEOUT": 504}
LATENCY_BOUNDS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
MAX_IN_FLIGHT = 100
MAX_REPLY_SUBJECT = 256


def now_ms() -> int:
    return int(time.time() * 1000)


def log(text: str) -> None:
    # Never print control characters from the wire to a terminal.
    sys.stderr.write("agent: " + "".join(c if c.isprintable() else "?" for c in text) + "\n")


class Nats:
    """The NATS client protocol on one connection: just what a service needs (no TLS, no reconnect buffer)."""

    def __init__(self, on_message):
        self.on_message = on_message  # (subject, sid, reply, headers, data) -> None
        self.closed = asyncio.Event()
        self.max_payload = 1024 * 1024
        self._sid = 0
        self._pongs = collections.deque()

    async def connect(self, url: str, name: str) -> None:
        u = urlparse(url)
        self.reader, self.writer = await asyncio.open_connection(u.hostname or "127.0.0.1", u.port or 4222)
        line = await asyncio.wait_for(self.reader.readline(), 5)
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"not a NATS server: {line[:60]!r}")
        info = json.loads(line[5:])
        if info.get("tls_required"):
            raise ConnectionError("the server requires TLS, which this example does not speak")
        self.max_payload = int(info.get("max_payload", self.max_payload))
        # headers: we read Sb-Deadline and send error headers; no_responders only matters to requesters.
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1,
                "lang": "python-raw", "version": "1.0", "name": name}
        if u.username and u.password:
            opts.update(user=u.username, **{"pass": u.password})
        elif u.username:
            opts["auth_token"] = u.username
        self.writer.write(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")
        self._reading = asyncio.create_task(self._read())
        await self.flush()  # the PONG also proves the CONNECT was accepted

    def subscribe(self, subject: str, queue: str | None = None) -> int:
        self._sid += 1
        self.writer.write(f"SUB {subject} {queue + ' ' if queue else ''}{self._sid}\r\n".encode())
        return self._sid

    def unsubscribe(self, sid: int) -> None:
        self.writer.write(f"UNSUB {sid}\r\n".encode())

    def publish(self, subject: str, data: bytes, headers: dict | None = None) -> None:
        if self.closed.is_set():
            return
        if headers:
            head = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self.writer.write(f"HPUB {subject} {len(head)} {len(head) + len(data)}\r\n".encode() + head + data + b"\r\n")
        else:
            self.writer.write(f"PUB {subject} {len(data)}\r\n".encode() + data + b"\r\n")

    async def flush(self, timeout: float = 5) -> None:
        """A PING/PONG round trip: the server has processed everything sent before it."""
        pong = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        self.writer.write(b"PING\r\n")
        await self.writer.drain()
        await asyncio.wait_for(pong, timeout)

    async def close(self) -> None:
        self.closed.set()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    async def _read(self) -> None:
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                op, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if op in (b"MSG", b"HMSG"):
                    args = rest.decode().split()
                    # MSG <subject> <sid> [reply] <size> / HMSG <subject> <sid> [reply] <header size> <size>
                    size = int(args[-1])
                    hsize = int(args[-2]) if op == b"HMSG" else 0
                    fixed = 4 if op == b"HMSG" else 3
                    reply = args[2] if len(args) > fixed else None
                    raw = (await self.reader.readexactly(size + 2))[:size]
                    self.on_message(args[0], int(args[1]), reply, parse_headers(raw[:hsize]), raw[hsize:])
                elif op == b"PING":
                    self.writer.write(b"PONG\r\n")
                elif op == b"PONG":
                    if self._pongs:
                        self._pongs.popleft().set_result(None)
                elif op == b"-ERR":
                    log(f"server error: {rest.decode(errors='replace')}")
                elif op == b"INFO":
                    self.max_payload = int(json.loads(rest).get("max_payload", self.max_payload))
        except (OSError, asyncio.IncompleteReadError) as err:
            log(f"connection lost: {err}")
        finally:
            self.closed.set()
            while self._pongs:
                self._pongs.popleft().cancel()


def parse_headers(raw: bytes) -> dict:
    """`NATS/1.0[ status]\\r\\nKey: Value\\r\\n...` -> {key: first value}; keys keep their case."""
    headers = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key and key not in headers:
            headers[key] = value.strip()
    return headers


def parse_deadline(value: str | None) -> int | None:
    """`Sb-Deadline`: integer epoch ms. Anything else (absent, empty, garbage) means no deadline."""
    if value is None or not re.fullmatch(r"\d{1,16}", value):
        return None
    return int(value)


class RemoteError(Exception):
    def __init__(self, code: str, message: str, retryable: bool = False):
        super().__init__(message)
        self.code, self.retryable = code, retryable


class Agent:
    def __init__(self, args):
        self.servers = args.servers.split(",")
        self.prefix, self.service = args.prefix, args.service
        self.id = args.id or str(uuid.uuid4())
        self.heartbeat_ms, self.metrics_ms = args.heartbeat_ms, args.metrics_ms
        for token in (self.service, self.id):
            if not TOKEN.match(token):
                raise SystemExit(f"not a token: {token!r}")
        self.handlers = {"greet": self.greet, "echo": self.echo, "sleep": self.sleep, "fail": self.fail}
        self.record = {"id": self.id, "service": self.service, "version": "1.0.0", "endpoints": list(self.handlers),
                       "heartbeatMs": self.heartbeat_ms, "startedAt": now_ms(), "metadata": {"lang": "python"}}
        self.seq = 0            # heartbeat seq: the first heartbeat carries 1
        self.metrics_seq = 0
        self.in_flight = 0
        self.draining = False
        self.stopping = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.nc: Nats | None = None
        self.sync_sid = -1
        self.sids: list[int] = []
        self.announce_pending = False
        self.stats = {ep: {"requests": 0, "errors": 0, "errorsByCode": {}, "counts": [0] * len(LATENCY_BOUNDS_MS),
                           "sum": 0.0, "count": 0} for ep in self.handlers}

    def subject(self, kind: str) -> str:
        return f"{self.prefix}.{kind}.{self.service}.{self.id}"

    # ---- endpoints ---------------------------------------------------------------------------------------
    async def greet(self, payload):
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise RemoteError("BAD_REQUEST", "greet needs {\"name\": <1-100 characters>}")
        return {"greeting": f"hello {name}", "from": self.id}

    async def echo(self, payload):
        return payload

    async def sleep(self, payload):
        ms = payload.get("ms") if isinstance(payload, dict) else None
        if not isinstance(ms, int) or not 0 <= ms <= 10_000:
            raise RemoteError("BAD_REQUEST", "sleep needs {\"ms\": 0-10000}")
        await asyncio.sleep(ms / 1000)
        return {"slept": ms, "from": self.id}

    async def fail(self, payload):
        raise RemoteError("TEAPOT", "this endpoint always fails, with a code of its own")

    # ---- one session: connect, subscribe, announce ---------------------------------------------------------
    async def session(self, url: str) -> None:
        nc = Nats(self.on_message)
        await nc.connect(url, f"python-agent {self.service}/{self.id}")
        self.nc = nc
        # 1. Subscribe first: the instance subject (any endpoint: an unknown one is answered NOT_FOUND),
        #    each endpoint's queue-group subject, and sync. Then flush, so the server has them.
        self.sids = [nc.subscribe(f"{self.subject('inst')}.*")]
        self.sids += [nc.subscribe(f"{self.prefix}.svc.{self.service}.{ep}", queue=self.service) for ep in self.handlers]
        self.sync_sid = nc.subscribe(f"{self.prefix}.sync")
        self.sids.append(self.sync_sid)
        await nc.flush()
        # 2. Announce, 3. heartbeat at once (the loops keep going); after a reconnect this runs again.
        self.announce()
        self.heartbeat()
        await nc.closed.wait()

    def announce(self) -> None:
        if self.nc and not self.draining:
            self.nc.publish(self.subject("announce"), json.dumps({"v": 1, "instance": self.record}).encode())

    def heartbeat(self) -> None:
        if self.nc and not self.draining:
            self.seq += 1
            hb = {"v": 1, "id": self.id, "service": self.service, "seq": self.seq, "sentAt": now_ms(),
                  "inFlight": self.in_flight, "status": "ok"}
            self.nc.publish(self.subject("heartbeat"), json.dumps(hb).encode())

    def publish_metrics(self) -> None:
        if not self.nc:
            return
        self.metrics_seq += 1
        endpoints = []
        for ep, s in self.stats.items():
            m = {"endpoint": ep, "requests": s["requests"], "errors": s["errors"],
                 "latencyMs": {"bounds": LATENCY_BOUNDS_MS, "counts": s["counts"], "sum": round(s["sum"], 3), "count": s["count"]}}
            if s["errorsByCode"]:
                m["errorsByCode"] = s["errorsByCode"]
            endpoints.append(m)
        snap = {"v": 1, "service": self.service, "id": self.id, "seq": self.metrics_seq, "sentAt": now_ms(),
                "startedAt": self.record["startedAt"], "intervalMs": self.metrics_ms, "endpoints": endpoints}
        self.nc.publish(self.subject("metrics"), json.dumps(snap).encode())

    async def every(self, ms: int, action) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), ms / 1000)
            except asyncio.TimeoutError:
                if self.nc and not self.nc.closed.is_set():
                    action()

    # ---- incoming messages ---------------------------------------------------------------------------------
    def on_message(self, subject, sid, reply, headers, data) -> None:
        if sid == self.sync_sid:
            self.on_sync(data)
        else:
            self.serve(subject.rsplit(".", 1)[1], reply, headers, data)

    def on_sync(self, data: bytes) -> None:
        try:
            sync = json.loads(data)
        except ValueError:
            return
        if not isinstance(sync, dict) or sync.get("v") != 1:
            return
        # A sync names no one (everyone answers), a service, and/or an id: answer only if all it names is us.
        if sync.get("service") not in (None, self.service) or sync.get("id") not in (None, self.id):
            return
        if sync.get("id") is not None:
            self.announce()  # asked for by id: at once
        elif not self.announce_pending:
            # A broadcast: after a random delay up to min(heartbeatMs, 1000) ms, so a restarted coordinator
            # is not flooded by every instance at once.
            self.announce_pending = True

            def later():
                self.announce_pending = False
                self.announce()
            asyncio.get_running_loop().call_later(random.random() * min(self.heartbeat_ms, 1000) / 1000, later)

    def refuses(self, reply: str) -> bool:
        """Reply subjects never answered: system ($...), our own prefix, wildcards, empty tokens, too long."""
        return (len(reply) > MAX_REPLY_SUBJECT or reply.startswith("$") or reply == self.prefix
                or reply.startswith(self.prefix + ".") or "*" in reply or ">" in reply
                or reply.startswith(".") or reply.endswith(".") or ".." in reply)

    def serve(self, endpoint: str, reply: str | None, headers: dict, data: bytes) -> None:
        if not reply or self.refuses(reply):
            return
        handler = self.handlers.get(endpoint)
        if handler is None:
            self.error(reply, "NOT_FOUND", f"service {self.service} has no endpoint {json.dumps(endpoint)}")
            return
        deadline = parse_deadline(headers.get("Sb-Deadline"))
        if deadline is not None and deadline <= now_ms():
            return  # the caller gave up: no work, no reply
        if self.draining:
            self.error(reply, "UNAVAILABLE", f"instance {self.id} is shutting down", retryable=True)
            return
        if self.in_flight >= MAX_IN_FLIGHT:
            self.error(reply, "OVERLOADED", f"instance {self.id} is at its limit of {MAX_IN_FLIGHT} requests", retryable=True)
            return
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            self.count(endpoint, 0.0, "BAD_REQUEST")
            self.error(reply, "BAD_REQUEST", "request body is not valid JSON")
            return
        self.in_flight += 1
        self.idle.clear()
        asyncio.get_running_loop().create_task(self.run(endpoint, handler, payload, reply))

    async def run(self, endpoint, handler, payload, reply) -> None:
        started, code = time.perf_counter(), None
        try:
            body = json.dumps(await handler(payload)).encode()
            if len(body) > self.nc.max_payload:
                code = "PAYLOAD_TOO_LARGE"
                self.error(reply, code, f"reply of {len(body)} bytes exceeds the server's max_payload")
            else:
                self.nc.publish(reply, body)
        except RemoteError as err:
            code = err.code
            self.error(reply, err.code, str(err), err.retryable)
        except Exception as err:  # a bug in a handler is the caller's INTERNAL, never the agent's death
            code = "INTERNAL"
            self.error(reply, code, f"{type(err).__name__}: {err}")
        finally:
            self.count(endpoint, (time.perf_counter() - started) * 1000, code)
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    def count(self, endpoint: str, ms: float, code: str | None) -> None:
        s = self.stats[endpoint]
        s["requests"] += 1
        s["sum"] += ms
        s["count"] += 1
        for i, bound in enumerate(LATENCY_BOUNDS_MS):  # cumulative buckets: counts[i] = observations <= bounds[i]
            if ms <= bound:
                s["counts"][i] += 1
        if code is not None:
            s["errors"] += 1
            if len(s["errorsByCode"]) < 32 or code in s["errorsByCode"]:
                s["errorsByCode"][code] = s["errorsByCode"].get(code, 0) + 1

    def error(self, reply: str, code: str, message: str, retryable: bool = False) -> None:
        """An error reply: the NATS micro headers and the JSON body {v, code, message, retryable?}."""
        message = " ".join(message.split())[:1024]  # one line: it also goes into a header
        body = {"v": 1, "code": code, "message": message}
        if retryable:
            body["retryable"] = True
        self.nc.publish(reply, json.dumps(body).encode(),
                        {"Nats-Service-Error-Code": str(STATUS.get(code, 500)), "Nats-Service-Error": message})

    # ---- life ---------------------------------------------------------------------------------------------
    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        timers = [asyncio.create_task(self.every(self.heartbeat_ms, self.heartbeat)),
                  asyncio.create_task(self.every(self.metrics_ms, self.publish_metrics))]
        ready, attempt = False, 0
        while not self.stopping.is_set():
            url = self.servers[attempt % len(self.servers)]
            session = asyncio.create_task(self.session(url))
            stop = asyncio.create_task(self.stopping.wait())
            if not ready:
                # READY once the first announce is out (the session is parked on nc.closed by then).
                while not session.done() and not (self.nc and self.seq > 0):
                    await asyncio.sleep(0.01)
                if self.nc and self.seq > 0:
                    ready = True
                    print(f"READY {self.id}", flush=True)
            await asyncio.wait({session, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if self.stopping.is_set():
                break
            err = session.exception() if session.done() and not session.cancelled() else None
            log(f"disconnected from {url}{': ' + str(err) if err else ''}; reconnecting")
            attempt += 1
            try:  # 250 ms, then up to 2 s between attempts; a reconnect re-subscribes and re-announces
                await asyncio.wait_for(self.stopping.wait(), min(2.0, 0.25 * attempt))
            except asyncio.TimeoutError:
                pass
        for t in timers:
            t.cancel()
        await self.leave()

    async def leave(self, timeout_s: float = 5) -> None:
        nc = self.nc
        if nc is None or nc.closed.is_set():
            return
        # 1. Stop heartbeating (done: the timers are cancelled) and publish the last metrics.
        self.publish_metrics()
        # 2. Leave: callers stop choosing this instance. Requests that still arrive are served normally
        #    (a caller whose cache has not seen the leave yet) until the subscriptions are gone.
        nc.publish(self.subject("leave"), json.dumps({"v": 1, "id": self.id, "service": self.service, "reason": "stop"}).encode())
        await nc.flush()
        # 3. Unsubscribe; after the flush the server delivers nothing more. Anything still delivered is
        #    answered UNAVAILABLE (retryable), so the caller tries another instance.
        for sid in self.sids:
            nc.unsubscribe(sid)
        await nc.flush()
        self.draining = True
        # 4. Finish the requests in flight, then close.
        try:
            await asyncio.wait_for(self.idle.wait(), timeout_s)
        except asyncio.TimeoutError:
            log(f"{self.in_flight} requests still in flight after {timeout_s} s")
        await nc.flush()
        await nc.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default="nats://127.0.0.1:4222", help="comma-separated nats:// URLs")
    p.add_argument("--prefix", default="sb")
    p.add_argument("--service", default="hello")
    p.add_argument("--id", help="instance id (default a random UUID)")
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    p.add_argument("--metrics-ms", type=int, default=1000)
    args = p.parse_args()
    asyncio.run(Agent(args).run_until_stopped())


if __name__ == "__main__":
    main()
