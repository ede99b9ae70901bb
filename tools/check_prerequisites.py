"""Say exactly what is missing before make starts installing."""
import shutil
import sys

HINTS = {
    'venv': "sudo apt-get install python3-venv",
    'node': "sudo apt-get install nodejs npm",
    }


def check_python():
    if sys.version_info < (3, 11):  # noqa: UP036
        return (f"Python 3.11 or newer is needed, this is "
            f"{sys.version.split()[0]}. Install it and run "
            f"make PYTHON=python3.11 ...")
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        return f"Python's venv module is missing: {HINTS['venv']}"


def check_node():
    for command in ['node', 'npm']:
        if not shutil.which(command):
            return (f"'{command}' is not installed; the web client comes "
                f"from npm: {HINTS['node']}")


def main(*what):
    checks = {'python': check_python, 'node': check_node}
    for name in what:
        if problem := checks[name]():
            print(problem, file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
