# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A JSON-RPC client of a trytond server, with nothing but the standard
library: the calls the web client makes, as one user (a session), over
HTTP on 127.0.0.1 or any host. Shared by the reliability tests and the load
test (bench/load.py)."""
import base64
import http.client
import json
import re
import time
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 120


class RPCError(Exception):
    pass


def post(host, port, path, body, headers=None, timeout=REQUEST_TIMEOUT):
    "POST body to host:port and return (HTTP status, bytes)"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request('POST', path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def decimal(value):
    "The JSON-RPC form of a Decimal"
    return {'__class__': 'Decimal', 'decimal': str(value)}


def number(value):
    "A number of a JSON-RPC answer (Decimals come as objects) as float"
    if isinstance(value, dict) and 'decimal' in value:
        return float(value['decimal'])
    return float(value) if value is not None else None


def message_pattern(text):
    "A regular expression for an ir.message text with its placeholders"
    parts = re.split(r'%\(\w+\)[sdrf]', text)
    return re.compile('.*?'.join(
            re.escape(p.replace('%%', '%')) for p in parts), re.DOTALL)


def outcome(status, data):
    """Classify an answer: (kind, detail) with kind one of 'ok', 'user'
    (a UserError or UserWarning: the server refused with a message),
    'concurrency' (a stale _timestamp), 'unavailable' (503: the dispatcher
    gave up retrying a serialization failure) or 'other'"""
    if status == 503:
        return 'unavailable', 'HTTP 503'
    if status == 204 or (status == 200 and isinstance(data, dict)
            and 'result' in data):
        return 'ok', None
    if status == 200 and isinstance(data, dict) and 'error' in data:
        error = data['error']
        kind = error[0] if error else None
        if kind in {'UserError', 'UserWarning'}:
            return 'user', error[1][0] if error[1] else ''
        if kind == 'ConcurrencyException':
            return 'concurrency', str(error[1])
        return 'other', str(error)[:2000]
    return 'other', f'HTTP {status}: {str(data)[:2000]}'


class Client:
    """A JSON-RPC session of one user on a database of the server at
    host:port (or a base URL: Client.from_url)"""

    def __init__(self, port, database, login, password, host='127.0.0.1',
            timeout=REQUEST_TIMEOUT, attempts=5, language='en'):
        self.host = host
        self.port = port
        self.database = database
        self.login = login
        self.timeout = timeout
        for attempt in range(attempts):
            try:
                user_id, session = self.call(
                    'common.db.login',
                    [login, {'password': password}, language],
                    auth=False)[:2]
                break
            except RPCError:
                # A loaded server sometimes answers 404 to the first ones
                if attempt == attempts - 1:
                    raise
                time.sleep(1)
        token = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.headers = {'Authorization': f'Session {token}'}
        self.user_id = user_id
        self.context = self.call('model.res.user.get_preferences', [True, {}])

    @classmethod
    def from_url(cls, url, database, login, password, **kwargs):
        parts = urlsplit(url)
        return cls(parts.port or 80, database, login, password,
            host=parts.hostname or '127.0.0.1', **kwargs)

    @property
    def path(self):
        return f'/{self.database}/rpc/'

    def request(self, method, params, auth=True):
        "Return (HTTP status, decoded JSON or text)"
        headers = {'Content-Type': 'application/json'}
        if auth:
            headers.update(self.headers)
        status, data = post(
            self.host, self.port, self.path,
            json.dumps({'id': 0, 'method': method, 'params': params}),
            headers, timeout=self.timeout)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data.decode(errors='replace')

    def call(self, method, params, auth=True):
        status, data = self.request(method, params, auth=auth)
        if status != 200 or not isinstance(data, dict) or 'error' in data:
            raise RPCError(f'{method}: HTTP {status} {data}')
        return data['result']

    def model(self, model, method, *args):
        return self.call(
            f'model.{model}.{method}', [*args, self.context])

    def count(self, model, domain):
        return self.model(model, 'search_count', domain)

    def max_id(self, model):
        ids = self.model(model, 'search', [], 0, 1, [['id', 'DESC']])
        return ids[0] if ids else 0
