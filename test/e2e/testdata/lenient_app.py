"""A protected app that finds its resource the lenient way.

Like many Python apps and file servers it serves the percent-decoded
PATH_INFO (wsgiref decodes %2F too), reads a backslash as a separator, drops
;parameters from every segment (as Java servlet containers do) and resolves
dot-segments with posixpath.normpath. Every request under /public or /admin
is answered 200 with the body "RESOURCE <path>", naming what was served, so
a test can judge whether the caller was allowed to get it; anything else is
404. Every answer carries X-Matrix-Backend: python, and X-Matrix-Received
with the request target as it arrived.

Standard library only. Usage: python3 lenient_app.py PORT
"""

import posixpath
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

AREAS = ("/public", "/admin")


def resolve(path_info):
    """Returns the resource a lenient app serves for a decoded PATH_INFO."""
    path = path_info.replace("\\", "/")
    path = "/".join(segment.split(";", 1)[0] for segment in path.split("/"))
    # normpath keeps a leading "//" (POSIX allows it a meaning): collapse it.
    return posixpath.normpath("/" + path.lstrip("/"))


def in_area(path):
    return any(path == area or path.startswith(area + "/") for area in AREAS)


def app(environ, start_response):
    path = resolve(environ.get("PATH_INFO", ""))
    if in_area(path):
        status, body = "200 OK", "RESOURCE " + path + "\n"
    else:
        status, body = "404 Not Found", "not found\n"
    start_response(status, [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("X-Matrix-Backend", "python"),
        ("X-Matrix-Received", environ.get("RAW_URI", "")),
    ])
    # wsgiref decodes PATH_INFO as ISO-8859-1: every character fits back.
    return [body.encode("iso-8859-1", "replace")]


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        # The target as sent, before wsgiref decodes and splits it.
        environ["RAW_URI"] = self.path
        return environ

    def log_message(self, format, *args):
        # The test reports what each request got; a line per request here
        # would only bury the log of a failing run.
        pass


def main():
    port = int(sys.argv[1])
    with make_server("127.0.0.1", port, app, ThreadingWSGIServer, Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
