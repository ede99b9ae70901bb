# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Adding the suite to a database that has run without it (issue 14).

A database is created with Tryton's standard modules only and filled
through proteus by the users whose work it is: a customer who was quoted,
ordered and invoiced; a party with a quotation; a lost opportunity; a
customer whose last order is old; a supplier; an employee; a party with no
document. Then the suite is activated as an integrator does it
(``trytond-admin -u crm_lifecycle crm_projects crm_service
--activate-dependencies``) and the test reads, as a CRM user, the stages,
first contacts, the dated history and the conversion report, checks that
``recompute_lifecycle_stage`` gives the same history and that
``trytond-admin --validate`` reports nothing.

Each step runs in its own process (this file is also the script of the
fill and read steps), on the backend of the test run
(TRYTOND_DATABASE_URI: SQLite by default, PostgreSQL in the PostgreSQL run
of tools/run_tests.sh) and, as the steps need nothing of the test process,
also on PostgreSQL from the SQLite run when PG_SUBPROCESS_URI names a
server (tools/run_tests.sh does so when both run, to share the time)."""
import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / '.venv' / 'bin'
STANDARD = ['party', 'company', 'sale', 'sale_opportunity', 'account_invoice']
SUITE = ['crm_lifecycle', 'crm_projects', 'crm_service']
DATABASE_URI = os.environ.get('TRYTOND_DATABASE_URI', 'sqlite://')

def _backends():
    "[(backend, database URI)] of the upgrades to test"
    if DATABASE_URI.startswith('postgresql'):
        return [('postgresql', DATABASE_URI)]
    backends = [('sqlite', 'sqlite://')]
    if os.environ.get('PG_SUBPROCESS_URI'):
        backends.append(('postgresql', os.environ['PG_SUBPROCESS_URI']))
    return backends


PASSWORD = 'Upgrade-Test-2026'
# days before today of the documents
DAYS = {
    'alpha_opportunity': 60, 'alpha_quotation': 45, 'alpha_order': 40,
    'alpha_invoice': 35,
    'beta_quotation': 20,
    'gamma_opportunity': 50, 'gamma_lost': 30,
    'delta_quotation': 505, 'delta_order': 500,
    'epsilon_invoice': 10,
    }
DORMANT_DAYS = 365


# The steps run in their own process (python tests/test_upgrade.py ...)


def _key(row):
    "Sort key of a history row [party, from, to, date, origin]"
    return [v if v is not None else '' for v in row]


def _connect(config_file, database):
    "Return a proteus configuration on database (the backend of the file)"
    from configparser import ConfigParser

    from proteus import config as pconfig
    parser = ConfigParser()
    parser.read(config_file)
    uri = urlsplit(parser.get('database', 'uri', fallback='sqlite://'))
    target = database
    if uri.scheme != 'sqlite':
        target = urlunsplit(uri._replace(path=f'/{database}'))
    return pconfig.set_trytond(target, config_file=str(config_file))


def fill(config_file, database):
    "Fill the database that has the standard modules only"
    from proteus import Model
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import set_user
    _connect(config_file, database)
    today = dt.date.today()

    def day(name):
        return today - dt.timedelta(days=DAYS[name])

    Company = Model.get('company.company')
    Employee = Model.get('company.employee')
    Group = Model.get('res.group')
    ModelData = Model.get('ir.model.data')
    Party = Model.get('party.party')
    User = Model.get('res.user')

    create_company()
    company, = Company.find()
    create_chart(company)
    accounts = get_accounts(company)
    for date in sorted({day('alpha_invoice').year, today.year}):
        fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
                company, today=dt.date(date, 6, 30)))
        fiscalyear.click('create_period')
    Category = Model.get('product.category')
    category = Category(name="Services", accounting=True)
    category.account_revenue = accounts['revenue']
    category.account_expense = accounts['expense']
    category.save()
    Uom = Model.get('product.uom')
    hour, = Uom.find([('name', '=', 'Hour')])
    Template = Model.get('product.template')
    template = Template(name="Consulting", type='service', default_uom=hour,
        salable=True, list_price=Decimal('100'), account_category=category)
    template.save()
    product, = template.products

    ids = {'today': today.isoformat()}
    zeta = Party(name="Zeta Employee")
    zeta.save()
    employee = Employee(party=zeta, company=company)
    employee.save()
    users = {}
    for login, groups in {
            'sales': [('sale', 'group_sale'),
                ('sale_opportunity', 'group_opportunity')],
            'accounting': [('account', 'group_account')],
            }.items():
        user = User(login=login, name=login.title(), password=PASSWORD)
        for module, fs_id in groups:
            user.groups.append(Group(ModelData.get_id(module, fs_id, {})))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.employees.append(Employee(employee.id))
        user.employee = Employee(employee.id)
        user.save()
        users[login] = user.id
    ids['employee'] = zeta.id
    ids['company'] = company.party.id

    # the salesperson's parties, opportunities and quotations
    set_user(users['sales'])
    Party = Model.get('party.party')
    Opportunity = Model.get('sale.opportunity')
    Sale = Model.get('sale.sale')
    parties = {}
    for name in ['Alpha', 'Beta', 'Gamma', 'Delta', 'Eta']:
        party = Party(name=name)
        party.addresses.new(street="Main Street 1")
        party.save()
        parties[name.lower()] = party
        ids[name.lower()] = party.id

    def sale(party, quotation, order=None, method='manual'):
        sale = Sale(party=party, invoice_method=method)
        sale.quotation_date = day(quotation)
        line = sale.lines.new()
        line.product = product
        line.quantity = 2
        sale.click('quote')
        if order:
            sale.sale_date = day(order)
            sale.click('confirm')
        ids[quotation] = sale.id
        return sale

    alpha = Opportunity(party=parties['alpha'], description="Alpha deal",
        start_date=day('alpha_opportunity'), amount=Decimal('200'))
    alpha.save()
    alpha.click('opportunity')
    ids['alpha_opportunity'] = alpha.id
    sale(parties['alpha'], 'alpha_quotation', 'alpha_order', method='order')
    sale(parties['beta'], 'beta_quotation')
    gamma = Opportunity(party=parties['gamma'], description="Gamma deal",
        start_date=day('gamma_opportunity'))
    gamma.save()
    gamma.click('opportunity')
    gamma.click('lost')
    # lost then: Tryton records the day of the click as its end
    gamma.end_date = day('gamma_lost')
    gamma.save()
    assert gamma.state == 'lost' and gamma.end_date == day('gamma_lost')
    ids['gamma_opportunity'] = ids['gamma_lost'] = gamma.id
    sale(parties['delta'], 'delta_quotation', 'delta_order')

    # the accountant posts the customer invoice, records a supplier's
    set_user(users['accounting'])
    Invoice = Model.get('account.invoice')
    invoice, = Invoice.find([('party', '=', parties['alpha'].id)])
    invoice.invoice_date = day('alpha_invoice')
    invoice.click('post')
    assert invoice.state == 'posted'
    ids['alpha_invoice'] = invoice.id
    supplier = Party(name="Epsilon Supplies")
    supplier.save()
    ids['epsilon'] = supplier.id
    bill = Invoice(type='in', party=supplier,
        invoice_date=day('epsilon_invoice'))
    line = bill.lines.new()
    line.account = accounts['expense']
    line.description = "Paper"
    line.quantity = 1
    line.unit_price = Decimal('50')
    bill.click('post')
    ids['epsilon_invoice'] = bill.id
    ids['sales'] = users['sales']
    return ids


def read(config_file, database, sales_user):
    """Read what a CRM user sees after the activation; then recompute
    (as the documentation says, with trytond's pool) and read again"""
    from proteus import Model
    from trytond.pool import Pool
    from trytond.tests.tools import set_user
    from trytond.transaction import Transaction
    config = _connect(config_file, database)
    today = dt.date.today()
    Group = Model.get('res.group')
    ModelData = Model.get('ir.model.data')
    User = Model.get('res.user')
    user = User(sales_user)
    user.groups.append(Group(ModelData.get_id(
                'crm_lifecycle', 'group_crm_sales', {})))
    user.save()

    set_user(sales_user)

    def history():
        History = Model.get('crm.lifecycle.history')
        return sorted((
                [h.party.id, h.from_stage, h.to_stage, h.date.isoformat(),
                    str(h.origin) if h.origin else None]
                for h in History.find([])), key=_key)

    Party = Model.get('party.party')
    result = {
        'parties': {p.id: [p.lifecycle_stage,
                p.first_contact_date.isoformat()
                if p.first_contact_date else None]
            for p in Party.find([])},
        'history': history(),
        }
    Funnel = Model.get('crm.reporting.funnel.channel')
    with config.set_context(
            from_date=today - dt.timedelta(days=600), to_date=today):
        result['report'] = [[f.contacts, f.leads, f.quoted, f.customers,
                f.median_days] for f in Funnel.find([])]

    with Transaction().start(database, 0) as transaction:
        pool = Pool()
        pool.get('party.party').recompute_lifecycle_stage()
        transaction.commit()
        # the models the suite defines or extends, for --validate
        result['models'] = sorted(name for name, Model in pool.iterobject()
            if any(c.__module__.startswith(tuple(
                            f'trytond.modules.{m}.' for m in SUITE))
                for c in Model.__mro__))
    result['recomputed'] = history()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('step', choices=['fill', 'read'])
    parser.add_argument('--config', required=True)
    parser.add_argument('--database', required=True)
    parser.add_argument('--output', required=True)
    parser.add_argument('--user', type=int)
    args = parser.parse_args()
    if args.step == 'fill':
        result = fill(args.config, args.database)
    else:
        result = read(args.config, args.database, args.user)
    Path(args.output).write_text(json.dumps(result))


# The test


def _postgresql(uri, sql):
    import psycopg
    parts = urlsplit(uri)
    with psycopg.connect(
            host=parts.hostname or None, port=parts.port or None,
            user=parts.username or None, password=parts.password or None,
            dbname='postgres', connect_timeout=5,
            autocommit=True) as connection:
        connection.execute(sql)


def _run(*args, env, timeout=600):
    "Run a step; return its output (fail with its end)"
    process = subprocess.run(
        args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout)
    if process.returncode:
        pytest.fail(f"{' '.join(map(str, args[:3]))} failed:\n"
            f"{process.stdout[-6000:]}", pytrace=False)
    return process.stdout


@pytest.fixture(scope='module', params=_backends(), ids=lambda p: p[0])
def upgraded(request, tmp_path_factory):
    "The standard database, filled, then with the suite activated"
    backend, uri = request.param
    folder = tmp_path_factory.mktemp(f'upgrade-{backend}')
    database = f'crm_upgrade_{os.getpid()}'
    config = folder / 'trytond.conf'
    config.write_text(
        f"[database]\nuri = {uri}\npath = {folder}\n")
    password = folder / 'admin.password'
    password.write_text(secrets.token_urlsafe(12) + '\n')
    env = {**os.environ, 'TRYTOND_DATABASE__PATH': str(folder),
        'TRYTONPASSFILE': str(password), 'TRYTOND_CONFIG': str(config)}
    for name in ['TRYTOND_DATABASE_URI', 'DB_NAME', 'DB_CACHE']:
        env.pop(name, None)
    if backend == 'postgresql':
        try:
            _postgresql(uri, f'CREATE DATABASE "{database}"')
        except Exception as exception:
            if os.environ.get('PG_REQUIRED') == '1':
                pytest.fail(f"PostgreSQL does not answer: {exception}")
            pytest.skip(f"PostgreSQL does not answer: {exception}")
    else:
        (folder / f'{database}.sqlite').touch()
    admin = [str(BIN / 'trytond-admin'), '-c', str(config), '-d', database]
    script = [sys.executable, __file__, '--config', str(config),
        '--database', database]
    steps = []

    def step(name, *args):
        started = time.monotonic()
        output = _run(*args, env=env)
        steps.append(f"{name} {time.monotonic() - started:.0f} s")
        return output
    try:
        step("standard modules", *admin, '--email', 'admin@example.com',
            '-u', *STANDARD, '--activate-dependencies')
        step("fill", *script[:2], 'fill', *script[2:],
            '--output', str(folder / 'ids.json'))
        ids = json.loads((folder / 'ids.json').read_text())
        step("suite", *admin, '-u', *SUITE, '--activate-dependencies')
        step("read and recompute", *script[:2], 'read', *script[2:],
            '--user', str(ids['sales']), '--output', str(folder / 'read.json'))
        read = json.loads((folder / 'read.json').read_text())
        validation = step("validate", *admin, '--validate', *read['models'])
        print(f"\n[{backend}] " + ', '.join(steps))
        yield SimpleNamespace(ids=ids, read=read, validation=validation,
            today=dt.date.fromisoformat(ids['today']))
    finally:
        if backend == 'postgresql':
            _postgresql(
                uri, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _day(upgraded, name):
    return (upgraded.today - dt.timedelta(days=DAYS[name])).isoformat()


def _midnight(upgraded, name, days=0):
    return (dt.datetime.combine(upgraded.today, dt.time())
        - dt.timedelta(days=DAYS[name] - days)).isoformat()


def test_stages_and_first_contacts(upgraded):
    "Stages from the documents; first contacts from the earliest one"
    ids, parties = upgraded.ids, upgraded.read['parties']

    def party(name):
        return parties[str(ids[name])]
    assert party('alpha') == ['customer', _day(upgraded, 'alpha_opportunity')]
    assert party('beta') == ['quoted', _day(upgraded, 'beta_quotation')]
    assert party('gamma') == ['lost', _day(upgraded, 'gamma_opportunity')]
    assert party('delta') == ['dormant', _day(upgraded, 'delta_quotation')]
    # no document: its creation (this test's day)
    assert party('eta') == ['contact', upgraded.today.isoformat()]
    for name in ['epsilon', 'employee', 'company']:
        assert party(name) == ['contact', None], name


def test_dated_history(upgraded):
    "Each transition dated and originated by the document that caused it"
    ids = upgraded.ids

    def row(name, from_, to, document, model, days=0):
        return [ids[name], from_, to, _midnight(upgraded, document, days),
            f'{model},{ids[document]}']
    history = upgraded.read['history']
    expected = [
        row('alpha', None, 'contact', 'alpha_opportunity',
            'sale.opportunity'),
        row('alpha', 'contact', 'lead', 'alpha_opportunity',
            'sale.opportunity'),
        row('alpha', 'lead', 'quoted', 'alpha_quotation', 'sale.sale'),
        row('alpha', 'quoted', 'customer', 'alpha_quotation', 'sale.sale',
            days=DAYS['alpha_quotation'] - DAYS['alpha_order']),
        row('beta', None, 'contact', 'beta_quotation', 'sale.sale'),
        row('beta', 'contact', 'quoted', 'beta_quotation', 'sale.sale'),
        row('gamma', None, 'contact', 'gamma_opportunity',
            'sale.opportunity'),
        row('gamma', 'contact', 'lead', 'gamma_opportunity',
            'sale.opportunity'),
        row('gamma', 'lead', 'lost', 'gamma_opportunity', 'sale.opportunity',
            days=DAYS['gamma_opportunity'] - DAYS['gamma_lost']),
        row('delta', None, 'contact', 'delta_quotation', 'sale.sale'),
        row('delta', 'contact', 'quoted', 'delta_quotation', 'sale.sale'),
        row('delta', 'quoted', 'customer', 'delta_quotation', 'sale.sale',
            days=DAYS['delta_quotation'] - DAYS['delta_order']),
        row('delta', 'customer', 'dormant', 'delta_quotation', 'sale.sale',
            days=DAYS['delta_quotation'] - DAYS['delta_order']
            + DORMANT_DAYS),
        ]
    eta = [h for h in history if h[0] == ids['eta']]
    assert [h[1:3] for h in eta] == [[None, 'contact']]
    assert eta[0][3][:10] == upgraded.today.isoformat()
    expected.sort(key=_key)
    assert [h for h in history if h[0] != ids['eta']] == expected
    excluded = {ids[n] for n in ['epsilon', 'employee', 'company']}
    assert not [h for h in history if h[0] in excluded]


def test_recompute_same_history(upgraded):
    "The documented recompute gives the history of the activation"
    assert upgraded.read['recomputed'] == upgraded.read['history']


def test_conversion_report(upgraded):
    "Only the true first contacts, with the days from contact to order"
    # Alpha, Beta, Gamma, Delta and Eta (created today), no channel; by
    # the stage reached at least: leads Alpha, Gamma and the quoted Beta
    # and Delta; quoted: Alpha, Beta, Delta; customers: Alpha, Delta; days
    # to order: Alpha 20, Delta 5
    median = ((DAYS['alpha_opportunity'] - DAYS['alpha_order'])
        + (DAYS['delta_quotation'] - DAYS['delta_order'])) / 2
    assert upgraded.read['report'] == [[5, 4, 3, 2, median]]


def test_validate(upgraded):
    "trytond-admin --validate reports no invalid record of the suite"
    assert {'crm.configuration', 'crm.lifecycle.history', 'party.party',
        'sale.sale'} <= set(upgraded.read['models'])
    reports = [line for line in upgraded.validation.splitlines()
        if ': KO ' in line]
    assert not reports, '\n'.join(reports)


if __name__ == '__main__':
    main()
