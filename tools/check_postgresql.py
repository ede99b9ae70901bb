"""Exit 0 when the PostgreSQL server of the URI given answers."""
import sys
from urllib.parse import urlsplit

import psycopg


def main(uri):
    parts = urlsplit(uri)
    try:
        psycopg.connect(
            host=parts.hostname or None, port=parts.port or None,
            user=parts.username or None, password=parts.password or None,
            dbname='postgres', connect_timeout=5).close()
    except psycopg.Error as exception:
        print(f"PostgreSQL: {exception}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
