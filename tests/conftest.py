# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A throwaway demo database served by trytond, shared by the browser test
and the API examples: tools/demo_db.py builds it (--small) into a pytest
temporary folder and trytond serves it on a free port."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAO = ROOT / 'node_modules' / 'tryton-sao'
DATABASE = 'e2e'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _rpc(url, method, params):
    request = urllib.request.Request(
        url, data=json.dumps(
            {'id': 0, 'method': method, 'params': params}).encode(),
        headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope='session')
def demo_server(tmp_path_factory):
    "Build the small demo database and serve it; yield url, password, ..."
    folder = tmp_path_factory.mktemp('demo')
    port = _free_port()
    config = folder / 'trytond.conf'
    config.write_text(
        "[database]\nuri = sqlite://\n"
        f"[web]\nlisten = 127.0.0.1:{port}\n")
    env = {
        **os.environ,
        'TRYTOND_DATABASE__PATH': str(folder),
        'TRYTOND_WEB__ROOT': str(SAO),
        }
    for name in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(name, None)
    subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'demo_db.py'),
            '--config', str(config), '--database', DATABASE, '--small'],
        check=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    password = (folder / f'{DATABASE}.password').read_text().strip()
    log = (folder / 'trytond.log').open('w')
    process = subprocess.Popen(
        [str(ROOT / '.venv' / 'bin' / 'trytond'), '-c', str(config),
            '-d', DATABASE],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(150):
            try:
                _rpc(f'{url}/rpc/', 'common.db.list', [])
                break
            except OSError:
                time.sleep(0.2)
        yield SimpleNamespace(
            url=url, database=DATABASE, password=password, folder=folder,
            config=config, env=env)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
