"""A real SMTP server on loopback for the upload notification tests
(tests/integration/upload_notify.rs), built on aiosmtpd.

Every accepted message is stored in --dir as <n>.eml (the bytes as received)
and <n>.json: the envelope plus the headers and body as Python's e-mail
parser reads them, so the tests see the message the way a mail client does.

--reject ADDR   answers 550 to RCPT TO:<ADDR> (repeatable)
--slow SECONDS  waits this long before answering DATA (a send in progress)

Stopping the process (SIGTERM/SIGKILL) is "SMTP down"; starting it again on
the same --port brings it back with the messages already in --dir.
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, reject, slow):
        self.directory = directory
        self.reject = {a.lower() for a in reject}
        self.slow = slow
        existing = [int(n.split(".")[0]) for n in os.listdir(directory) if n.endswith(".json")]
        self.counter = itertools.count(max(existing, default=0) + 1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.slow:
            await asyncio.sleep(self.slow)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[name, str(value)] for name, value in message.items()],
            "body": message.get_content(),
        }
        n = next(self.counter)
        with open(os.path.join(self.directory, "%d.eml" % n), "wb") as f:
            f.write(raw)
        tmp = os.path.join(self.directory, "%d.json.tmp" % n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.directory, "%d.json" % n))
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    handler = Sink(args.dir, args.reject, args.slow)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", decode_data=False),
        host="127.0.0.1",
        port=args.port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
