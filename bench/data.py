"""The data of the benchmark, loaded set-based on PostgreSQL

A few records go through the ORM (company, chart of accounts, employees);
the volume is INSERT ... SELECT over generate_series on the cursor of the
Tryton transaction, with the columns the ORM would fill (create_uid,
create_date, the required ones and the defaults that are no column
defaults, e.g. party.active). The values are deterministic: they follow
from the customer's number n, so both sizes have the same shares.

Customers by n % 20 (their lifecycle stage is set as their documents say):

    0-8    customer   orders this year, a posted invoice, every other one
                      a converted opportunity, every fourth a quotation
    9      customer   whose documents and activities are all older than a
                      year: what mark_dormant finds
    10-12  quoted     an open quotation (30 days valid, some about to
                      expire: what plan_quotation_followups plans)
    13-15  lead       an open opportunity
    16     lost       a lost opportunity
    17-19  contact    activities only

Each customer has ACTIVITIES activities (one planned) and TICKETS service
tickets (35 % still open, a tenth of those at risk and a tenth breached).
One more customer, HEAVY_CODE, has about HEAVY_ENTRIES timeline entries.
"""
import datetime

from trytond.pool import Pool
from trytond.transaction import Transaction

ACTIVITIES = 10
TICKETS = 5
EMPLOYEES = 5
HEAVY_CODE = 'BENCH-HEAVY'
# The heavy customer's entries per source (10,000 with its 2 stage rows)
HEAVY = {
    'activities': 7998,
    'opportunities': 1000,
    'sales': 800,
    'invoices': 150,
    'tickets': 50,
    }
HEAVY_ENTRIES = sum(HEAVY.values()) + 2

TABLES = [
    'party_party', 'party_address', 'crm_lifecycle_history', 'crm_activity',
    'sale_opportunity', 'sale_sale', 'sale_line', 'account_invoice',
    'service_ticket']


def setup_company():
    """Create the company, its chart of accounts and employees with the ORM;
    return the ids the SQL needs"""
    from trytond.modules.account.tests import create_chart
    from trytond.modules.company.tests import (
        create_company,
        create_employee,
        set_company,
    )
    pool = Pool()
    Account = pool.get('account.account')
    Journal = pool.get('account.journal')
    company = create_company()
    with set_company(company):
        create_chart(company)
        employees = [create_employee(company, f"Employee {i}")
            for i in range(EMPLOYEES)]
        receivable, = Account.search([
                ('type.receivable', '=', True),
                ('party_required', '=', True),
                ('company', '=', company.id),
                ], limit=1)
        journal, = Journal.search([('type', '=', 'revenue')], limit=1)
    return {
        'company': company.id,
        'currency': company.currency.id,
        'employees': [e.id for e in employees],
        'account': receivable.id,
        'journal': journal.id,
        'user': Transaction().user,
        }


def load(size, ids):
    """Insert size customers and the heavy customer with their documents;
    return {table: rows}"""
    cursor = Transaction().connection.cursor()
    params = {
        **ids, 'size': size, 'today': datetime.date.today(),
        'activities': ACTIVITIES, 'tickets': TICKETS,
        'heavy_code': HEAVY_CODE,
        **{f'heavy_{k}': v for k, v in HEAVY.items()},
        }
    for statement in STATEMENTS:
        cursor.execute(statement, params)
    counts = {}
    for table in TABLES:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        counts[table], = cursor.fetchone()
    return counts


# The SQL, in the order of STATEMENTS; %(name)s are the parameters of load()

PARTIES = """
INSERT INTO party_party (create_uid, create_date, code, code_alnum,
    code_digit, name, active, crm_channel, first_contact_date,
    lifecycle_stage, lifecycle_since)
SELECT %(user)s, now() - make_interval(days => 900 - n %% 100),
    'BENCH-' || lpad(n::text, 6, '0'), 'BENCH' || lpad(n::text, 6, '0'),
    n, 'Customer ' || n, true,
    (ARRAY['trade_fair', 'shop', 'phone', 'web', 'referral'])[1 + n %% 5],
    CURRENT_DATE - (900 - n %% 100),
    CASE WHEN n %% 20 < 10 THEN 'customer'
        WHEN n %% 20 < 13 THEN 'quoted'
        WHEN n %% 20 < 16 THEN 'lead'
        WHEN n %% 20 = 16 THEN 'lost'
        ELSE 'contact' END,
    date_trunc('second', now()) - make_interval(days => n %% 200)
FROM generate_series(1, %(size)s) AS n
"""

HEAVY_PARTY = """
INSERT INTO party_party (create_uid, create_date, code, code_alnum, name,
    active, first_contact_date, lifecycle_stage, lifecycle_since)
VALUES (%(user)s, now() - interval '1000 days', %(heavy_code)s,
    'BENCHHEAVY', 'Heavy Customer', true, CURRENT_DATE - 1000, 'customer',
    date_trunc('second', now()) - interval '900 days')
"""

# The customers with their number n and kind, for the documents
BENCH_PARTY = """
CREATE TEMPORARY TABLE bench_party ON COMMIT DROP AS
SELECT id, n, CASE
        WHEN code = %(heavy_code)s THEN 'heavy'
        WHEN n %% 20 < 9 THEN 'customer'
        WHEN n %% 20 = 9 THEN 'dormant'
        WHEN n %% 20 < 13 THEN 'quoted'
        WHEN n %% 20 < 16 THEN 'lead'
        WHEN n %% 20 = 16 THEN 'lost'
        ELSE 'contact' END AS kind
FROM (SELECT id, code, COALESCE(code_digit, 0)::integer AS n
    FROM party_party WHERE code LIKE 'BENCH-%%') AS p
"""

ADDRESSES = """
INSERT INTO party_address (create_uid, create_date, party, active,
    sequence, street_unstructured, postal_code, city, invoice, delivery)
SELECT %(user)s, now(), id, true, 10, n || ' Main Street',
    lpad((10000 + n %% 90000)::text, 5, '0'), 'Springfield', true, true
FROM bench_party
"""

# Each party entered as contact, then went to its stage
HISTORY = """
INSERT INTO crm_lifecycle_history (create_uid, create_date, party,
    from_stage, to_stage, date, manual)
SELECT %(user)s, now(), p.id, NULL, 'contact',
    date_trunc('second', p.create_date), false
FROM party_party AS p JOIN bench_party AS b ON b.id = p.id
UNION ALL
SELECT %(user)s, now(), p.id, 'contact', p.lifecycle_stage,
    p.lifecycle_since, false
FROM party_party AS p JOIN bench_party AS b ON b.id = p.id
WHERE p.lifecycle_stage <> 'contact'
"""

# The first activity is planned (some overdue), the seventh cancelled; those
# of the customers to become dormant are all done more than a year ago
ACTIVITIES_SQL = """
INSERT INTO crm_activity (create_uid, create_date, company, party,
    activity_type, direction, subject, date, duration, employee, state)
SELECT %(user)s, now(), %(company)s, b.id,
    (ARRAY['call', 'meeting', 'email', 'letter', 'visit', 'note',
            'document'])[1 + (b.n + k) %% 7],
    CASE WHEN k %% 3 = 0 THEN 'in' ELSE 'out' END,
    'Activity ' || k || ' with customer ' || b.n,
    date_trunc('second', CASE
        WHEN b.kind = 'dormant'
        THEN now() - make_interval(days => 400 + (b.n * 7 + k * 31) %% 600)
        WHEN k = 1
        THEN date_trunc('day', now())
            + make_interval(days => b.n %% 30 - 5, hours => 8)
        ELSE now() - make_interval(days => (b.n * 7 + k * 31) %% 700,
            hours => k) END),
    make_interval(mins => 15 * (1 + k %% 4)),
    (%(employees)s::int[])[
        1 + (b.n + k) %% cardinality(%(employees)s::int[])],
    CASE WHEN k = 1 AND b.kind <> 'dormant' THEN 'planned'
        WHEN k = 7 THEN 'cancelled' ELSE 'done' END
FROM bench_party AS b CROSS JOIN generate_series(1, %(activities)s) AS k
WHERE b.kind <> 'heavy'
"""

HEAVY_ACTIVITIES = """
INSERT INTO crm_activity (create_uid, create_date, company, party,
    activity_type, direction, subject, date, duration, employee, state)
SELECT %(user)s, now(), %(company)s, b.id,
    (ARRAY['call', 'meeting', 'email', 'letter', 'visit', 'note',
            'document'])[1 + k %% 7],
    CASE WHEN k %% 3 = 0 THEN 'in' ELSE 'out' END,
    'Activity ' || k || ' with the heavy customer',
    date_trunc('second', CASE WHEN k %% 50 = 0
        THEN now() + make_interval(hours => k)
        ELSE now() - make_interval(hours => 3 * k) END),
    interval '30 minutes',
    (%(employees)s::int[])[1 + k %% cardinality(%(employees)s::int[])],
    CASE WHEN k %% 50 = 0 THEN 'planned' ELSE 'done' END
FROM bench_party AS b
CROSS JOIN generate_series(1, %(heavy_activities)s) AS k
WHERE b.kind = 'heavy'
"""

OPPORTUNITIES = """
INSERT INTO sale_opportunity (create_uid, create_date, company, currency,
    party, address, number, description, start_date, end_date, state,
    conversion_probability, amount, employee, crm_channel)
SELECT %(user)s, now(), %(company)s, %(currency)s, b.id, a.id,
    'OPP-' || b.n || '-' || k, 'Deal ' || k || ' of customer ' || b.n,
    s.start_date,
    CASE WHEN s.state IN ('lost', 'converted') THEN s.start_date + 10 END,
    s.state, 0.5, 1000 + (b.n %% 50) * 100,
    (%(employees)s::int[])[
        1 + (b.n + k) %% cardinality(%(employees)s::int[])],
    'phone'
FROM bench_party AS b
JOIN party_address AS a ON a.party = b.id
CROSS JOIN generate_series(1,
    CASE WHEN b.kind = 'heavy' THEN %(heavy_opportunities)s ELSE 1 END) AS k
CROSS JOIN LATERAL (SELECT
    CASE b.kind
        WHEN 'lead' THEN CASE WHEN b.n %% 2 = 0 THEN 'lead'
            ELSE 'opportunity' END
        WHEN 'lost' THEN 'lost'
        WHEN 'heavy' THEN (ARRAY['lead', 'opportunity', 'converted',
                'lost', 'cancelled'])[1 + k %% 5]
        ELSE 'converted' END AS state,
    CASE b.kind
        WHEN 'dormant' THEN %(today)s - 600
        WHEN 'heavy' THEN %(today)s - k
        ELSE %(today)s - (b.n %% 300) END AS start_date) AS s
WHERE b.kind IN ('lead', 'lost', 'quoted', 'dormant', 'heavy')
    OR (b.kind = 'customer' AND b.n %% 2 = 0)
"""

# The sales to make: an order of the year (of long ago for the dormant),
# an older order, a quotation valid 30 days
BENCH_SALE = """
CREATE TEMPORARY TABLE bench_sale ON COMMIT DROP AS
SELECT b.id AS party, b.n, 'order' AS role, 1 AS k FROM bench_party AS b
WHERE b.kind IN ('customer', 'dormant')
UNION ALL
SELECT b.id, b.n, 'old order', 2 FROM bench_party AS b
WHERE b.kind = 'customer' AND b.n %% 2 = 1
UNION ALL
SELECT b.id, b.n, 'quotation', 3 FROM bench_party AS b
WHERE b.kind = 'quoted' OR (b.kind = 'customer' AND b.n %% 4 = 0)
UNION ALL
SELECT b.id, b.n, CASE WHEN k %% 8 < 3 THEN 'quotation' ELSE 'heavy' END, k
FROM bench_party AS b CROSS JOIN generate_series(1, %(heavy_sales)s) AS k
WHERE b.kind = 'heavy'
"""

SALES = """
INSERT INTO sale_sale (create_uid, create_date, company, currency, party,
    invoice_address, shipment_address, number, description, state,
    invoice_method, shipment_method, invoice_state, shipment_state,
    quotation_date, quotation_validity, sale_date, quoted_by,
    confirmed_by, crm_channel)
SELECT %(user)s, now(), %(company)s, %(currency)s, s.party, a.id, a.id,
    'S-' || s.n || '-' || s.k, 'Sale ' || s.k || ' of customer ' || s.n,
    d.state, 'order', 'order',
    CASE WHEN d.state = 'done' THEN 'paid' ELSE 'none' END,
    CASE WHEN d.state = 'done' THEN 'sent' ELSE 'none' END,
    COALESCE(d.sale_date - 5, d.quotation_date),
    CASE WHEN d.state = 'quotation' THEN interval '30 days' END,
    d.sale_date, e.employee,
    CASE WHEN d.state <> 'quotation' THEN e.employee END, 'phone'
FROM bench_sale AS s
JOIN bench_party AS b ON b.id = s.party
JOIN party_address AS a ON a.party = s.party
CROSS JOIN LATERAL (SELECT (%(employees)s::int[])[
        1 + (s.n + s.k) %% cardinality(%(employees)s::int[])] AS employee
    ) AS e
CROSS JOIN LATERAL (SELECT
    CASE s.role
        WHEN 'order' THEN CASE WHEN b.kind = 'dormant' THEN 'done'
            ELSE (ARRAY['confirmed', 'processing', 'done'])[1 + s.n %% 3]
            END
        WHEN 'quotation' THEN 'quotation'
        ELSE 'done' END AS state,
    CASE s.role
        WHEN 'order' THEN CASE WHEN b.kind = 'dormant'
            THEN %(today)s - 500 - s.n %% 100
            ELSE GREATEST(%(today)s - s.n %% 60,
                date_trunc('year', %(today)s)::date) END
        WHEN 'old order' THEN %(today)s - 400 - s.n %% 200
        WHEN 'heavy' THEN %(today)s - s.k
        END AS sale_date,
    CASE WHEN s.role = 'quotation'
        THEN %(today)s - (s.n + s.k) %% 30 END AS quotation_date) AS d
"""

SALE_LINES = """
INSERT INTO sale_line (create_uid, create_date, sale, sequence, type,
    description, quantity, unit_price)
SELECT %(user)s, now(), s.id, k, 'line', 'Service ' || k,
    1 + (s.id + k) %% 5, 50 + (s.id * k) %% 20 * 10
FROM sale_sale AS s
JOIN bench_party AS b ON b.id = s.party
CROSS JOIN generate_series(1, 2) AS k
"""

# The amounts Tryton stores on confirmation, from the lines
SALE_AMOUNTS = """
UPDATE sale_sale AS s SET untaxed_amount_cache = l.amount,
    tax_amount_cache = 0, total_amount_cache = l.amount
FROM (SELECT sale, SUM(quantity::numeric * unit_price) AS amount
    FROM sale_line GROUP BY sale) AS l
WHERE l.sale = s.id AND s.state IN ('confirmed', 'processing', 'done')
"""

INVOICES = """
INSERT INTO account_invoice (create_uid, create_date, company, currency,
    account, journal, party, invoice_address, type, state, number,
    description, invoice_date, untaxed_amount_cache, tax_amount_cache,
    total_amount_cache)
SELECT %(user)s, now(), %(company)s, %(currency)s, %(account)s,
    %(journal)s, b.id, a.id, 'out',
    CASE WHEN k %% 3 = 0 THEN 'paid' ELSE 'posted' END,
    'INV-' || b.n || '-' || k, 'Invoice ' || k || ' of customer ' || b.n,
    CASE b.kind
        WHEN 'dormant' THEN %(today)s - 450 - b.n %% 100
        WHEN 'heavy' THEN %(today)s - 2 * k
        ELSE %(today)s - b.n %% 60 END,
    100 + b.n %% 900, 0, 100 + b.n %% 900
FROM bench_party AS b
JOIN party_address AS a ON a.party = b.id
CROSS JOIN generate_series(1,
    CASE WHEN b.kind = 'heavy' THEN %(heavy_invoices)s ELSE 1 END) AS k
WHERE b.kind IN ('customer', 'dormant', 'heavy')
"""

# 7 in 20 tickets still open, reported in the last three days, a tenth of
# them at risk and a tenth breached
TICKETS_SQL = """
INSERT INTO service_ticket (create_uid, create_date, company, party,
    number, channel, kind, priority, title, reported_date, state,
    sla_state, assignee, billable, paused_duration,
    response_paused_duration, response_deadline, response_risk_date,
    resolution_deadline, resolution_risk_date, first_response_date,
    resolved_date, closed_date)
SELECT %(user)s, now(), %(company)s, b.id, 'T-' || b.n || '-' || k,
    (ARRAY['phone', 'email', 'portal', 'on_site', 'letter'])[1 + k %% 5],
    (ARRAY['question', 'fault', 'complaint', 'change_request',
            'maintenance'])[1 + (b.n + k) %% 5],
    (ARRAY['low', 'normal', 'normal', 'high', 'urgent'])[1 + b.n %% 5],
    'Ticket ' || k || ' of customer ' || b.n, t.reported, t.state,
    CASE
        WHEN t.running THEN
            (ARRAY['breached', 'at_risk', 'on_track', 'on_track',
                'on_track', 'on_track', 'on_track', 'on_track',
                'on_track', 'on_track'])[1 + (b.n + 7 * k) %% 10]
        WHEN b.n %% 10 = 0 THEN 'breached'
        ELSE 'on_track' END,
    (%(employees)s::int[])[
        1 + (b.n + k) %% cardinality(%(employees)s::int[])],
    false, interval '0', interval '0',
    t.reported + interval '4 hours', t.reported + interval '3 hours',
    t.reported + interval '2 days', t.reported + interval '36 hours',
    CASE WHEN t.state <> 'new' THEN t.reported + interval '1 hour' END,
    CASE WHEN t.state IN ('resolved', 'closed')
        THEN t.reported + interval '1 day' END,
    CASE WHEN t.state = 'closed' THEN t.reported + interval '2 days' END
FROM bench_party AS b
CROSS JOIN generate_series(1,
    CASE WHEN b.kind = 'heavy' THEN %(heavy_tickets)s ELSE %(tickets)s END
    ) AS k
CROSS JOIN LATERAL (SELECT
    (ARRAY['new', 'new', 'open', 'open', 'open', 'waiting', 'waiting',
            'resolved'])[1 + (b.n * 5 + k) %% 20] AS state,
    (b.n * 5 + k) %% 20 < 7 AS running) AS o
CROSS JOIN LATERAL (SELECT COALESCE(o.state, 'closed') AS state, o.running,
    date_trunc('second', now() - CASE WHEN o.running
        THEN make_interval(hours => (b.n + 7 * k) %% 72)
        ELSE make_interval(days => 3 + (b.n * 13 + k * 101) %% 365,
            hours => (b.n + k) %% 24) END) AS reported) AS t
"""

STATEMENTS = [
    PARTIES, HEAVY_PARTY, BENCH_PARTY, 'CREATE INDEX ON bench_party (id)',
    ADDRESSES, HISTORY, ACTIVITIES_SQL,
    HEAVY_ACTIVITIES, OPPORTUNITIES, BENCH_SALE, SALES, SALE_LINES,
    SALE_AMOUNTS, INVOICES, TICKETS_SQL,
    ]
