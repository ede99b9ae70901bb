# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The two examples of README.md "Calling the suite from a script", run
against the demo database served by trytond (tests/conftest.py). The
example functions are copied verbatim into the README: keep them in sync.
"""
import datetime as dt
from decimal import Decimal


# --- README: proteus example (begin) ---
def proteus_example(url, database, password):
    "Log a call with a customer, then read its stage and timeline"
    from proteus import Model
    from proteus import config as pconfig

    # proteus talks XML-RPC to a running server at /<database>/rpc/
    with pconfig.set_xmlrpc_session(
            f'{url}/{database}/rpc/', 'admin', password=password):
        Party = Model.get('party.party')
        Activity = Model.get('crm.activity')
        customer, = Party.find([('name', '=', "Müller Maschinenbau GmbH")])
        call = Activity(party=customer, activity_type='call')
        call.subject = "Termin für die Vorführung vereinbart"
        call.direction = 'out'
        call.date = dt.datetime.now().replace(microsecond=0)
        call.save()
        call.click('do')
        customer.reload()
        return (customer.lifecycle_stage,
            [(t.kind, t.summary) for t in customer.crm_timeline])
# --- README: proteus example (end) ---


# --- README: JSON-RPC example (begin) ---
def json_rpc_example(url, database, password):
    "Read a customer's stage, key figures and timeline; open a ticket"
    import base64
    import json
    import urllib.request

    def rpc(method, *params, session=None):
        headers = {'Content-Type': 'application/json'}
        if session:
            headers['Authorization'] = f'Session {session}'
        request = urllib.request.Request(
            f'{url}/{database}/rpc/', headers=headers,
            data=json.dumps({'id': 1, 'method': method,
                    'params': params}).encode())
        with urllib.request.urlopen(request) as response:
            reply = json.load(response)
        if 'error' in reply:
            raise RuntimeError(reply['error'])
        return reply['result']

    user_id, key, _ = rpc(
        'common.db.login', 'admin', {'password': password}, 'en')
    session = base64.b64encode(
        f'admin:{user_id}:{key}'.encode()).decode()
    # The context a client sends: company, employee, language...
    context = rpc('model.res.user.get_preferences', True, {},
        session=session)

    customer, = rpc('model.party.party.search_read',
        [('name', '=', "Müller Maschinenbau GmbH")], 0, 1, None,
        ['name', 'lifecycle_stage', 'crm_open_opportunities',
            'crm_open_opportunity_amount', 'crm_last_contact'],
        context, session=session)
    timeline = rpc('model.crm.timeline.search_read',
        [('party', '=', customer['id'])], 0, 20, None,
        ['date', 'kind', 'summary'], context, session=session)
    ticket = None
    if rpc('model.ir.module.search', [('name', '=', 'crm_service'),
                ('state', '=', 'activated')], 0, None, None, context,
            session=session):
        ticket_id, = rpc('model.service.ticket.create',
            [{'party': customer['id'], 'title': "Presse startet nicht",
                'priority': 'high'}], context, session=session)
        ticket, = rpc('model.service.ticket.read', [ticket_id],
            ['number', 'state', 'sla_state'], context, session=session)
    return customer, timeline, ticket
# --- README: JSON-RPC example (end) ---


def test_proteus_example(demo_server):
    stage, timeline = proteus_example(
        demo_server.url, demo_server.database, demo_server.password)
    assert stage == 'lead'
    kinds = {kind for kind, _ in timeline}
    assert {'call', 'stage', 'opportunity'} <= kinds
    assert ('call', "Termin für die Vorführung vereinbart") in timeline


def test_json_rpc_example(demo_server):
    customer, timeline, ticket = json_rpc_example(
        demo_server.url, demo_server.database, demo_server.password)
    assert customer['lifecycle_stage'] == 'lead'
    assert customer['crm_open_opportunities'] == 1
    # Decimals travel as {"__class__": "Decimal", "decimal": "..."}
    amount = customer['crm_open_opportunity_amount']
    assert Decimal(amount['decimal']) == Decimal('48000')
    assert customer['crm_last_contact']
    kinds = [row['kind'] for row in timeline]
    assert 'stage' in kinds and 'opportunity' in kinds
    dates = [row['date']['year'] for row in timeline]
    assert dates == sorted(dates, reverse=True)
    assert ticket, "the demo activates crm_service"
    assert ticket['number'].startswith('T')
    assert ticket['state'] == 'new'
    assert ticket['sla_state'] in {'on_track', 'at_risk'}


def test_readme_has_the_examples():
    "README.md shows the two examples exactly as they are tested here"
    import inspect
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / 'README.md'
        ).read_text(encoding='utf-8')
    for example in [proteus_example, json_rpc_example]:
        assert inspect.getsource(example) in readme, example.__name__
