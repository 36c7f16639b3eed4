"""A real SMTP server on loopback that keeps every message it is sent (the plain protocol:
EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no auth), for the notification tests."""

from __future__ import annotations

import email
import socketserver
import threading


class _Session(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline().decode(errors="replace").strip()
            verb = line[:4].upper()
            if not line or verb == "QUIT":
                self.reply("221 bye")
                return
            if verb == "EHLO":
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                body = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    body.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append(email.message_from_bytes(b"".join(body)))
                self.reply("250 queued")
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")


class SmtpSink(socketserver.ThreadingTCPServer):
    """`with SmtpSink() as sink:` serves on `sink.port`; `sink.messages` holds what arrived."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Session)
        self.messages: list[email.message.Message] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __exit__(self, *exc):
        self.shutdown()
        super().__exit__(*exc)

    def connection(self) -> str:
        """An Airflow Connection (JSON) for this server."""
        extra = {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10}
        conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra}
        import json

        return json.dumps(conn)
