"""Refuse to start the demo server when its port is taken."""
import socket
import sys


def main(host, port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError:
            print(
                f"Port {port} on {host} is in use. Stop what listens there "
                f"or choose another port: make demo PORT=8010",
                file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
