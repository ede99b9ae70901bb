"""Measure the customer view and the timeline against vanilla Tryton reads

Builds a database (SQLite in memory by default; set TRYTOND_DATABASE_URI and
DB_NAME for PostgreSQL) with many customers, each with activities,
opportunities and quotations, then reports, measured in the same run:

- the queries and time to read the CRM key figures of 80 parties, against
  reading the same parties' names and receivable (vanilla Tryton);
- the queries and time to show one page (80 rows) of the timeline of a party
  with 1500 entries, against one page of its activities alone.
"""
import argparse
import datetime
import os
import statistics
import sys
import time
from decimal import Decimal

os.environ.setdefault('DB_CACHE', os.path.join(
        os.path.dirname(__file__), '..', 'var', 'bench-cache'))

from trytond.tests.test_tryton import DB_NAME, USER, activate_module  # noqa: E402


def timed(function, repeat):
    "Return (median seconds, queries of one call)"
    from trytond.modules.crm_lifecycle.tests.tools import count_queries
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        with count_queries() as queries:
            function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), len(queries)


def populate(parties, per_party, big):
    from trytond.pool import Pool
    pool = Pool()
    Party = pool.get('party.party')
    Activity = pool.get('crm.activity')
    Opportunity = pool.get('sale.opportunity')
    Sale = pool.get('sale.sale')
    SaleLine = pool.get('sale.line')
    Company = pool.get('company.company')
    company, = Company.search([])
    now = datetime.datetime.now()
    customers = Party.create([{'name': f"Kunde {i}"} for i in range(parties)])
    heavy, = Party.create([{'name': "Großkunde"}])
    Activity.create([{
                'company': company.id, 'party': p.id, 'subject': f"Call {n}",
                'date': now - datetime.timedelta(hours=n),
                'state': 'done' if n % 2 else 'planned',
                } for p in customers for n in range(per_party)]
        + [{
                'company': company.id, 'party': heavy.id,
                'subject': f"Call {n}",
                'date': now - datetime.timedelta(hours=n), 'state': 'done',
                } for n in range(big // 3)])
    Opportunity.create([{
                'company': company.id, 'party': p.id,
                'currency': company.currency.id, 'amount': Decimal(1000),
                'description': f"Deal {n}",
                } for p in customers + [heavy]
            for n in range(per_party if p != heavy else big // 3)])
    sales = Sale.create([{
                'company': company.id, 'party': p.id,
                'currency': company.currency.id,
                } for p in customers + [heavy]
            for n in range(per_party if p != heavy else big // 3)])
    SaleLine.create([{
                'sale': s.id, 'type': 'line', 'quantity': 3,
                'unit_price': Decimal(250), 'description': "Service"}
            for s in sales])
    Sale.write(sales, {'state': 'quotation'})
    Party.update_lifecycle_stage(Party.browse(customers + [heavy]))
    return customers, heavy


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--parties', type=int, default=2000)
    parser.add_argument('--per-party', type=int, default=5)
    parser.add_argument('--big', type=int, default=1500)
    parser.add_argument('--repeat', type=int, default=7)
    args = parser.parse_args()

    activate_module(['crm_lifecycle'])
    from trytond.modules.company.tests import create_company, set_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from trytond.modules.crm_lifecycle.party import FIGURES

    with Transaction().start(DB_NAME, USER, context={}) as transaction:
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Timeline = pool.get('crm.timeline')
        company = create_company()
        with set_company(company):
            started = time.perf_counter()
            customers, heavy = populate(
                args.parties, args.per_party, args.big)
            print(f"data: {args.parties} parties x {args.per_party} "
                f"activities, opportunities and quotations; one party with "
                f"{args.big} entries ({time.perf_counter() - started:.1f} s)")
            ids = [p.id for p in customers[:80]]

            def vanilla():
                Party.read(ids, ['name', 'receivable'])

            def figures():
                Party.read(ids, ['name', 'receivable'] + FIGURES)

            def activities_page():
                rows = Activity.search(
                    [('party', '=', heavy.id)], limit=80)
                Activity.read([r.id for r in rows], ['date', 'subject'])

            def timeline_page():
                rows = Timeline.search([('party', '=', heavy.id)], limit=80)
                Timeline.read(
                    [r.id for r in rows],
                    ['date', 'kind', 'description', 'amount'])

            results = {}
            for name, function in [
                    ('party list (vanilla)', vanilla),
                    ('party list with CRM figures', figures),
                    ('activities page (vanilla)', activities_page),
                    ('timeline page', timeline_page)]:
                function()
                results[name] = timed(function, args.repeat)
            transaction.rollback()

    print(f"{'measure':32} {'median ms':>10} {'queries':>8}")
    for name, (seconds, queries) in results.items():
        print(f"{name:32} {seconds * 1000:10.1f} {queries:8}")
    view = (results['party list with CRM figures'][0]
        / results['party list (vanilla)'][0])
    page = (results['timeline page'][0]
        / results['activities page (vanilla)'][0])
    print(f"ratio customer view / vanilla: {view:.1f}")
    print(f"ratio timeline page / activities page: {page:.1f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
