"""Create the demo database once: a German machine builder, "Muster
Maschinenbau GmbH", with its departments, demo users, about fifty customers
at every lifecycle stage, service tickets, projects and dashboards. Run
through `make demo-db` (RESET=1 rebuilds).

Everything is created through the public API (proteus), as a user of the
suite would do it, and is deterministic: the random choices come from
random.Random(2026); only the dates move with today.
"""
import argparse
import datetime as dt
import os
import random
import secrets
import subprocess
import sys
import time
import traceback
from configparser import ConfigParser
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# dashboard is only for the demo: the suite's modules do not depend on it.
MODULES = ['crm_lifecycle', 'crm_projects', 'crm_service', 'dashboard']
# One password for every demo user (the admin keeps its generated one).
DEMO_PASSWORD = 'Muster-2026'
# login, employee, what they see (README "Demo logins")
DEMO_USERS = [
    ('vertrieb', "Sabine Vertrieb", "sales: leads, quotations, follow-ups"),
    ('projekt', "Paul Projekt", "projects, milestones, timesheets"),
    ('service', "Svenja Service", "service desk: tickets, SLA, hand-over"),
    ('buchhaltung', "Bernd Buchhaltung", "accounting: invoices, payments"),
    ('leitung', "Lena Leitung", "management: funnel reports, customers"),
    ]
STARTED = time.monotonic()


def step(message):
    elapsed = int(time.monotonic() - STARTED)
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed:3d}s] {message}",
        flush=True)


def database_path(config, name):
    "Return the SQLite file and make trytond see its folder absolute"
    parser = ConfigParser()
    parser.read(config)
    path = os.environ.get('TRYTOND_DATABASE__PATH') or parser.get(
        'database', 'path', fallback='var/db')
    # SQLite URIs do not take relative paths.
    folder = (ROOT / path).resolve()
    os.environ['TRYTOND_DATABASE__PATH'] = str(folder)
    return folder / f'{name}.sqlite'


def with_uri(config, uri, name):
    "Return a copy of config whose database is on the server of uri"
    parser = ConfigParser(interpolation=None)
    parser.read(config)
    if not parser.has_section('database'):
        parser.add_section('database')
    parser.set('database', 'uri', uri)
    folder = ROOT / 'var'
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f'demo-{name}.conf'
    with path.open('w') as file:
        parser.write(file)
    return path


def postgresql_uri(config):
    "Return the PostgreSQL URI of config or None (SQLite)"
    parser = ConfigParser(interpolation=None)
    parser.read(config)
    uri = parser.get('database', 'uri', fallback='')
    return uri if uri.startswith('postgresql') else None


def postgresql(uri, statement, *params):
    import psycopg
    parts = urlsplit(uri)
    with psycopg.connect(
            host=parts.hostname or None, port=parts.port or None,
            user=parts.username or None, password=parts.password or None,
            dbname='postgres', autocommit=True) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def postgresql_exists(uri, name):
    return bool(postgresql(
            uri, 'SELECT 1 FROM pg_database WHERE datname = %s', name))


def admin(config, database, *args, env=None):
    command = [
        str(ROOT / '.venv' / 'bin' / 'trytond-admin'), '-c', str(config),
        '-d', database, *args]
    subprocess.run(
        command, check=True, stdin=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, **(env or {})})


def available_modules():
    from trytond.modules import get_modules
    wanted = os.environ.get('DEMO_MODULES', ' '.join(MODULES)).split()
    return [m for m in wanted if m in get_modules()]


# Names for the generated customers. "Müller Maschinenbau GmbH" is created
# on its own (the browser test relies on it) and "Neumann" is left out: the
# browser test records "Neumann Antriebe GmbH" and must not meet a
# duplicate.
SURNAMES = [
    "Schulz", "Becker", "Hoffmann", "Wagner", "Fischer", "Weber", "Meyer",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
    "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Schulze",
    "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
    "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß",
    "Jung", "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther",
    "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz", "Baumann",
    ]
TRADES = [
    ("Logistik", "KG"), ("Feinmechanik", "AG"), ("Verpackung", "GmbH"),
    ("Metallbau", "e.K."), ("Antriebstechnik", "GmbH"),
    ("Kunststofftechnik", "GmbH"), ("Automation", "GmbH & Co. KG"),
    ("Werkzeugbau", "GmbH"), ("Fördertechnik", "AG"), ("Lebensmittel", "KG"),
    ("Elektrotechnik", "GmbH"), ("Gießerei", "GmbH"), ("Landtechnik", "KG"),
    ("Präzisionsteile", "GmbH"), ("Stahlhandel", "AG"),
    ]
FIRST_NAMES = [
    "Anna", "Jens", "Laura", "Peter", "Sandra", "Thomas", "Julia", "Michael",
    "Katrin", "Stefan", "Monika", "Andreas", "Claudia", "Frank", "Sabine",
    "Markus", "Petra", "Uwe", "Nicole", "Jörg",
    ]
CITIES = [
    ("30159", "Hannover"), ("70173", "Stuttgart"), ("80331", "München"),
    ("50667", "Köln"), ("44135", "Dortmund"), ("90402", "Nürnberg"),
    ("04109", "Leipzig"), ("28195", "Bremen"), ("33602", "Bielefeld"),
    ("73728", "Esslingen"), ("38100", "Braunschweig"), ("97070", "Würzburg"),
    ]
STREETS = [
    "Industriestraße", "Gewerbering", "Am Hafen", "Hauptstraße",
    "Werkstraße", "Daimlerstraße", "Robert-Bosch-Straße", "Mühlenweg",
    ]
DEALS = [
    ("Hydraulikpresse für die neue Halle", Decimal('48000')),
    ("Nachrüstung Förderstrecke", Decimal('125000')),
    ("Verpackungsroboter", Decimal('67000')),
    ("Zwei Stanzautomaten", Decimal('89000')),
    ("Wartungsvertrag Pressenlinie", Decimal('12000')),
    ("Ersatzteilpaket Hydraulik", Decimal('8500')),
    ("Automatisierung Montagelinie", Decimal('210000')),
    ("Retrofit Steuerung", Decimal('35000')),
    ]


def load_records(config, database, size):
    from proteus import Model, Wizard
    from proteus import config as pconfig
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        create_tax,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company

    rng = random.Random(2026)
    today = dt.date.today()
    now = dt.datetime.now().replace(microsecond=0)
    cfg = pconfig.set_trytond(database, config_file=str(config))
    Company = Model.get('company.company')
    Country = Model.get('country.country')
    Currency = Model.get('currency.currency')
    Employee = Model.get('company.employee')
    Lang = Model.get('ir.lang')
    ModelData = Model.get('ir.model.data')
    Party = Model.get('party.party')
    User = Model.get('res.user')
    Group = Model.get('res.group')

    def ref(module, fs_id):
        return ModelData.get_id(module, fs_id, {})

    activated = {m.name for m in Model.get('ir.module').find(
                [('state', '=', 'activated')])}

    step("Company Muster Maschinenbau GmbH (EUR, Europe/Berlin)")
    eur = Currency(name="Euro", code='EUR', symbol="€")
    eur.rates.new(date=today.replace(month=1, day=1), rate=Decimal(1))
    eur.save()
    germany = Country(name="Deutschland", code='DE', code3='DEU')
    germany.save()
    company_party = Party(name="Muster Maschinenbau GmbH")
    address, = company_party.addresses
    address.street = "Werkstraße 12"
    address.postal_code, address.city = "30179", "Hannover"
    address.country = germany
    company_party.save()
    create_company(party=company_party, currency=eur)
    company, = Company.find()
    company.timezone = 'Europe/Berlin'
    company.save()
    cfg._context = User.get_preferences(True, {})

    step("Employees and demo users (German)")
    german, = Lang.find([('code', '=', 'de')])
    employees = {}
    for login, name, _ in DEMO_USERS:
        employee = Employee(party=Party(name=name), company=company)
        employee.party.save()
        employee.save()
        employees[login] = employee
    technician = Employee(party=Party(name="Tim Techniker"), company=company)
    technician.party.save()
    technician.save()
    sabine = employees['vertrieb']

    # The admin is Sabine's desk in the browser test; it stays English.
    admin_user = User(1)
    admin_user.employees.append(Employee(sabine.id))
    admin_user.employee = Employee(sabine.id)
    admin_user.save()
    cfg._context = User.get_preferences(True, {})

    groups = {
        'vertrieb': [('crm_lifecycle', 'group_crm_sales'),
            ('sale', 'group_sale'),
            ('sale_opportunity', 'group_opportunity')],
        'projekt': [('crm_lifecycle', 'group_crm_projects'),
            ('project', 'group_project_admin'),
            ('timesheet', 'group_timesheet_admin')],
        'service': [('crm_lifecycle', 'group_crm_service'),
            ('timesheet', 'group_timesheet_admin')],
        'buchhaltung': [('crm_lifecycle', 'group_crm'),
            ('account', 'group_account')],
        'leitung': [('crm_lifecycle', 'group_crm_admin'),
            ('sale', 'group_sale'),
            ('sale_opportunity', 'group_opportunity')],
        }
    users = {}
    for login, name, _ in DEMO_USERS:
        user = User(login=login, name=name)
        user.password = DEMO_PASSWORD
        user.language = german
        for module, fs_id in groups[login]:
            if module in activated:
                try:
                    user.groups.append(Group(ref(module, fs_id)))
                except Exception:
                    step(f"  group {module}.{fs_id} not found, skipped")
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.employees.append(Employee(employees[login].id))
        user.employee = Employee(employees[login].id)
        user.save()
        users[login] = user

    step("German chart of accounts, fiscal year, tax, payment term")
    # The German SKR03 chart (account_de_skr03) has no Tryton 8.0 release
    # (its latest is 7.8, pinned to trytond < 7.9), so the demo uses the
    # German-language chart that Tryton 8.0's account module ships.
    create_chart(company, chart='account.account_template_root_de')
    accounts = get_accounts(company)
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(company, today))
    fiscalyear.click('create_period')
    tax = create_tax(Decimal('.19'), company)
    tax.name = tax.description = "USt 19 %"
    tax.save()
    PaymentTerm = Model.get('account.invoice.payment_term')
    payment_term = PaymentTerm(name="14 Tage netto")
    term_line = payment_term.lines.new(type='remainder')
    term_line.relativedeltas.new(days=14)
    payment_term.save()
    Journal = Model.get('account.journal')
    PaymentMethod = Model.get('account.invoice.payment.method')
    cash_journal, = Journal.find([('type', '=', 'cash')])
    bank = PaymentMethod(name="Überweisung", journal=cash_journal)
    bank.credit_account = bank.debit_account = accounts['cash']
    bank.save()

    step("Products: goods and an hourly service")
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    unit, = Uom.find([('name', '=', 'Unit')])
    hour, = Uom.find([('name', '=', 'Hour')])
    category = Category(name="Maschinen und Leistungen", accounting=True)
    category.account_revenue = accounts['revenue']
    category.account_expense = accounts['expense']
    category.customer_taxes.append(tax)
    category.save()

    def product(name, type_, uom, price, **values):
        template = Template(name=name, type=type_, default_uom=uom)
        template.salable = True
        template.list_price = Decimal(price)
        template.account_category = category
        for key, value in values.items():
            setattr(template, key, value)
        template.save()
        return template.products[0]
    press = product("Hydraulikpresse HP-200", 'goods', unit, '24000')
    spare = product("Ersatzteilset Hydraulik", 'goods', unit, '850')
    service_hour = product("Servicetechniker-Stunde", 'service', hour, '95')

    Configuration = Model.get('crm.configuration')
    configuration = Configuration(1)
    configuration.dormant_days = 180
    configuration.save()

    step("Hannover Messe 2026 and the customers at every stage")
    Campaign = Model.get('marketing.campaign')
    Activity = Model.get('crm.activity')
    Opportunity = Model.get('sale.opportunity')
    Sale = Model.get('sale.sale')
    LostReason = Model.get('crm.lost_reason')
    fair = Campaign(name="Hannover Messe 2026")
    fair.save()
    lost_reasons = LostReason.find([])

    def first_contact(name, person, email, channel, note, deal=None):
        wizard = Wizard('crm.first_contact')
        wizard.form.organisation = name
        wizard.form.person = person
        wizard.form.email = email
        wizard.form.channel = channel
        wizard.form.event = fair if channel == 'trade_fair' else None
        wizard.form.note = note
        if deal:
            wizard.form.create_opportunity = True
            wizard.form.description, wizard.form.amount = deal
        wizard.execute('check')
        if wizard.form_state == 'duplicates':
            wizard.execute('record')
        party, = Party.find([('name', '=', name)])
        return party

    # The lead the browser test opens: one open opportunity and the
    # note of the first contact.
    mueller = first_contact(
        "Müller Maschinenbau GmbH", "Anna Schmidt",
        "anna.schmidt@mueller-maschinenbau.example", 'trade_fair',
        "Erstes Gespräch mit Anna Schmidt am Stand.",
        ("Zwei Hydraulikpressen für die neue Halle", Decimal('48000')))

    counts = dict(contact=8, lead=8, quoted=7, customer=14, lost=5,
        dormant=5)
    if size == 'small':
        counts = dict(contact=2, lead=2, quoted=2, customer=3, lost=1,
            dormant=1)
    names = rng.sample(
        [(s, t) for s in SURNAMES for t in TRADES], sum(counts.values()))
    # Every surname once: the duplicate check of the wizard stays quiet.
    seen, unique = set(), []
    for surname, trade in names:
        if surname not in seen:
            seen.add(surname)
            unique.append((surname, trade))
    pool = [(s, t) for s, t in rng.sample(
            [(s, t) for s in SURNAMES for t in TRADES], len(SURNAMES) * 3)
        if s not in seen]
    while len(unique) < sum(counts.values()):
        surname, trade = pool.pop()
        if surname not in seen:
            seen.add(surname)
            unique.append((surname, trade))

    def make_party(surname, trade):
        trade_name, form = trade
        name = f"{surname} {trade_name} {form}"
        person = f"{rng.choice(FIRST_NAMES)} {surname}"
        domain = (surname.lower().replace('ä', 'ae').replace('ö', 'oe')
            .replace('ü', 'ue').replace('ß', 'ss'))
        email = f"{person.split()[0].lower()}@{domain}-{trade_name.lower()}" \
            ".example".replace('ä', 'ae').replace('ö', 'oe').replace(
                'ü', 'ue').replace('ß', 'ss')
        postal_code, city = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
        return name, person, email, postal_code, city, street

    def add_address(party, postal_code, city, street):
        party = Party(party.id)
        address, = party.addresses
        address.street = street
        address.postal_code, address.city = postal_code, city
        address.country = germany
        address.save()
        return party

    def sell(party, lines, sale_date=None, invoice_method='order',
            opportunity=None):
        if opportunity:
            sale, = opportunity.click('convert')
        else:
            sale = Sale(party=party)
            sale.payment_term = payment_term
            sale.invoice_method = invoice_method
            sale.sale_date = sale_date
            for item, quantity in lines:
                line = sale.lines.new()
                line.product = item
                line.quantity = quantity
        sale.save()
        return sale

    def plan(party, subject, kind, days, done=False, resource=None):
        activity = Activity(party=party, subject=subject,
            activity_type=kind, employee=Employee(sabine.id))
        activity.direction = 'out'
        activity.date = now + dt.timedelta(days=days, hours=rng.randint(0, 6))
        if resource:
            activity.resource = resource
        activity.save()
        if done:
            activity.click('do')
        return activity

    channels = ['trade_fair', 'trade_fair', 'phone', 'web', 'referral']
    parties = {stage: [] for stage in counts}
    index = 0
    for stage, count in counts.items():
        for _ in range(count):
            name, person, email, postal_code, city, street = make_party(
                *unique[index])
            index += 1
            channel = ('trade_fair' if stage == 'contact'
                else rng.choice(channels))
            deal = None
            if stage in {'lead', 'lost'} or (
                    stage in {'quoted', 'customer'} and rng.random() < .5):
                deal = rng.choice(DEALS)
            note = (f"Gespräch mit {person} auf der Hannover Messe."
                if channel == 'trade_fair'
                else f"Erstkontakt mit {person}.")
            if stage == 'dormant':
                # Old customers from before the CRM: no first contact
                # (a recent contact would keep them awake).
                party = Party(name=name)
                party.contact_mechanisms.new(
                    type='email', value=email, name=person)
                party.save()
            else:
                party = first_contact(
                    name, person, email, channel, note, deal)
            party = add_address(party, postal_code, city, street)
            parties[stage].append(party)

    step(f"  {sum(counts.values()) + 1} parties recorded, now the documents")
    for party in parties['lead']:
        plan(party, f"Angebot mit {party.name} abstimmen", 'call',
            rng.randint(1, 10))
    for party in parties['lost']:
        opportunity, = Opportunity.find([('party', '=', party.id)])
        opportunity.crm_lost_reason = rng.choice(lost_reasons)
        opportunity.save()
        opportunity.click('lost')

    quotes = []
    for party in parties['quoted'] + parties['customer']:
        opportunity = Opportunity.find([('party', '=', party.id)])
        if opportunity:
            opportunity, = opportunity
            opportunity.address, = party.addresses
            opportunity.payment_term = payment_term
            opportunity.employee = Employee(sabine.id)
            line = opportunity.lines.new()
            line.product = rng.choice([press, spare])
            line.quantity = rng.randint(1, 3)
            opportunity.click('opportunity')
            sale = sell(party, None, opportunity=opportunity)
        else:
            sale = sell(party, [
                    (rng.choice([press, spare]), rng.randint(1, 3)),
                    (service_hour, rng.choice([4, 8, 16]))])
        sale.click('quote')
        quotes.append((party, sale))
    for party, sale in quotes[:len(parties['quoted'])]:
        plan(party, f"Nachfassen Angebot {sale.number}", 'call',
            rng.randint(-3, 7), resource=sale)

    invoices = []
    for party, sale in quotes[len(parties['quoted']):]:
        sale.click('confirm')
        sale.reload()
        plan(party, f"Auftragsbestätigung {sale.number} besprochen",
            'call', -rng.randint(1, 20), done=True, resource=sale)
        invoices.extend(sale.invoices)
    # Invoice numbers follow the invoice dates: post the oldest first.
    for number, invoice in enumerate(invoices):
        invoice.invoice_date = today - dt.timedelta(
            days=12 - 12 * number // max(len(invoices), 1))
        invoice.click('post')
    for invoice in invoices[::2]:
        pay = invoice.click('pay')
        pay.form.payment_method = bank
        pay.execute('choice')

    step("  dormant customers: old orders and the dormancy job")
    for party in parties['dormant']:
        sale = sell(party, [(spare, rng.randint(1, 4))],
            sale_date=today - dt.timedelta(days=rng.randint(300, 500)),
            invoice_method='manual')
        sale.click('quote')
        sale.click('confirm')
    Cron = Model.get('ir.cron')
    dormant_cron, = Cron.find([('method', '=', 'party.party|mark_dormant')])
    dormant_cron.click('run_once')

    step("  activities of Sabine Vertrieb: done, planned and overdue")
    contacts = parties['contact']
    for party in rng.sample(contacts, min(4, len(contacts))):
        plan(party, f"Prospekt an {party.name} senden", 'email',
            -rng.randint(1, 5))
    for party in parties['customer'][:4]:
        plan(party, f"Besuch bei {party.name}", 'visit', rng.randint(2, 14))
        plan(party, "Zufriedenheit nach Lieferung erfragen", 'call',
            -rng.randint(20, 40), done=True)
    plan(mueller, "Angebot für die Hydraulikpressen vorbereiten", 'call', 1)

    if 'crm_service' in activated:
        try:
            load_service(cfg, rng, now, company, employees, technician,
                parties['customer'], service_hour)
        except Exception:
            step("  SERVICE DEMO FAILED, continuing without it:")
            traceback.print_exc(file=sys.stdout)
            cfg._context = User.get_preferences(True, {})

    if 'crm_projects' in activated:
        try:
            # The project service needs crm_projects: made in its block.
            commissioning = product(
                "Inbetriebnahme und Schulung", 'service', hour, '120',
                project_service=True)
            load_projects(cfg, rng, today, employees, parties['customer'],
                commissioning, payment_term, bank)
        except Exception:
            step("  PROJECTS DEMO FAILED (crm_projects), continuing "
                "without it:")
            traceback.print_exc(file=sys.stdout)
            cfg._context = User.get_preferences(True, {})
    else:
        step("Projects skipped: crm_projects is not activated")

    if 'dashboard' in activated:
        load_dashboards(cfg, activated, users, ref)
    return company


def load_service(cfg, rng, now, company, employees, technician, customers,
        service_hour):
    from proteus import Model
    Employee = Model.get('company.employee')
    SLA = Model.get('service.sla')
    Team = Model.get('service.team')
    Ticket = Model.get('service.ticket')

    step("Service desk: SLA (Mon-Fri 8-17), team, tickets, hand-over")
    svenja = employees['service']
    team = Team(name="Hotline", lead=Employee(svenja.id))
    team.members.append(Employee(svenja.id))
    team.members.append(Employee(technician.id))
    team.save()
    sla = SLA(name="Standard (Mo-Fr 8-17 Uhr)")
    sla.timezone = 'Europe/Berlin'
    for priority, response, resolution in [
            ('low', 16, 80), ('normal', 8, 40),
            ('high', 4, 16), ('urgent', 1, 8)]:
        target = sla.targets.new(priority=priority)
        target.response_hours = response
        target.resolution_hours = resolution
    for weekday in '01234':
        hours = sla.hours.new(weekday=weekday)
        hours.start_time = dt.time(8)
        hours.end_time = dt.time(17)
    sla.save()
    Configuration = Model.get('service.configuration')
    configuration = Configuration(1)
    configuration.default_sla = sla
    configuration.service_product = service_hour
    configuration.save()

    # The service desk works as Svenja: responses are hers.
    context = dict(cfg._context)
    cfg._context = {**context, 'employee': svenja.id}
    try:
        titles = [
            ("Presse verliert Hydrauliköl", 'high'),
            ("Steuerung zeigt Fehler E42", 'urgent'),
            ("Frage zur Wartungsanleitung", 'low'),
            ("Ersatzteil falsch geliefert", 'normal'),
            ("Schulung für neue Bediener", 'normal'),
            ("Lichtschranke löst sporadisch aus", 'high'),
            ("Geräusche am Antrieb", 'normal'),
            ("Bedarf: zweite Presse für Werk 2", 'normal'),
            ]
        tickets = []
        shuffled = rng.sample(customers, len(customers))
        for number, (title, priority) in enumerate(titles):
            party = shuffled[number % len(shuffled)]
            ticket = Ticket(party=party, title=title, priority=priority)
            ticket.team = team
            ticket.assignee = Employee(
                [svenja.id, technician.id][number % 2])
            ticket.save()
            tickets.append(ticket)
        new, answered, waiting, resolved, closed, breached, open_, lead = \
            tickets
        # new: stays new, assigned to the technician or Svenja
        for ticket in [answered, waiting, resolved, closed, open_, lead]:
            ticket.click('respond')
        waiting.click('wait')
        resolved.click('resolve')
        closed.click('resolve')
        closed.click('close')
        # Reported before the response target ran out: SLA breached.
        breached.reported_date = now - dt.timedelta(days=3)
        breached.assignee = Employee(svenja.id)
        breached.save()
        # The service desk hears of a new need and hands it to sales.
        lead.click('hand_over')
    finally:
        cfg._context = context
    cron, = Model.get('ir.cron').find(
        [('method', '=', 'service.ticket|escalate')])
    cron.click('run_once')
    step(f"  {len(tickets)} tickets: "
        + ", ".join(sorted({t.state for t in Ticket.find([])})))


def load_projects(cfg, rng, today, employees, customers, commissioning,
        payment_term, bank):
    from proteus import Model
    Employee = Model.get('company.employee')
    Milestone = Model.get('project.milestone')
    Sale = Model.get('sale.sale')
    TimesheetLine = Model.get('timesheet.line')
    Protocol = Model.get('project.protocol')

    step("Projects: project service, order -> project, milestones, time, "
        "protocol")
    paul = employees['projekt']
    context = dict(cfg._context)
    cfg._context = {**context, 'employee': paul.id}
    try:
        customer = customers[-1]
        sale = Sale(party=customer, payment_term=payment_term)
        sale.description = "Inbetriebnahme Pressenlinie"
        line = sale.lines.new()
        line.product = commissioning
        line.quantity = 40
        sale.click('quote')
        sale.click('confirm')
        sale.reload()
        project, = sale.projects
        milestones = []
        for sequence, (name, share, days) in enumerate([
                    ("Aufstellung", '0.30', -10),
                    ("Inbetriebnahme", '0.50', 14),
                    ("Abnahme", '0.20', 30)], 1):
            milestone = Milestone(project=project, name=name,
                sequence=sequence)
            milestone.percentage = Decimal(share)
            milestone.planned_date = today + dt.timedelta(days=days)
            milestone.save()
            milestones.append(milestone)
        first = milestones[0]
        first.click('reach')
        contact = customer.contact_mechanisms[0] \
            if customer.contact_mechanisms else None
        if contact:
            first.accepted_by = contact
            first.acceptance_note = "Aufstellung ohne Mängel abgenommen"
            first.click('accept')
            first.click('create_invoice')
            first.invoice.invoice_date = today
            first.invoice.click('post')

        tm_sale = Sale(party=customers[-2], payment_term=payment_term)
        tm_sale.description = "Schulung Bediener"
        tm_sale.project_invoice_method = 'timesheet'
        line = tm_sale.lines.new()
        line.product = commissioning
        line.quantity = 24
        tm_sale.click('quote')
        tm_sale.click('confirm')
        tm_sale.reload()
        tm_project, = tm_sale.projects
        task, = tm_project.children
        twork, = task.timesheet_works
        for days in range(1, 6):
            tl = TimesheetLine(employee=Employee(paul.id), work=twork)
            tl.date = today - dt.timedelta(days=days)
            tl.duration = dt.timedelta(hours=rng.choice([2, 3, 4]))
            tl.save()

        protocol = Protocol(project=project, title="Kick-off beim Kunden")
        protocol.attendees = "Kunde, Paul Projekt"
        protocol.decisions = "Aufstellung in Halle 3"
        item = protocol.action_items.new(description="Fundamentplan senden")
        item.owner = Employee(paul.id)
        item.due_date = today + dt.timedelta(days=3)
        protocol.save()
    finally:
        cfg._context = context
    step("  2 projects, 3 milestones, 5 timesheet lines, 1 protocol")


# Dashboards (README "Dashboards"). Tryton's dashboard only shows actions
# whose usage is "dashboard", and the suite's modules ship no demo-only
# action; so the demo copies existing actions into its own database:
# (module, action, optional domain tab of it to use as the domain,
# English name, German name).
DASHBOARDS = {
    'vertrieb': [
        ('crm_lifecycle', 'act_activity_followups', None,
            "My Follow-ups", "Meine Wiedervorlagen"),
        ('sale_opportunity', 'act_opportunity_form', None,
            "Leads and Opportunities", "Leads und Verkaufschancen"),
        ('sale', 'act_sale_form', 'act_sale_form_domain_quotation',
            "Open Quotations", "Offene Angebote"),
        ],
    'projekt': [
        ('crm_projects', 'act_milestone_form', None,
            "Milestones", "Meilensteine"),
        ('crm_lifecycle', 'act_activity_followups', None,
            "My Follow-ups", "Meine Wiedervorlagen"),
        ('timesheet', 'act_hours_employee_form', None,
            "Hours per Employee", "Stunden pro Mitarbeiter"),
        ],
    'service': [
        ('crm_service', 'act_ticket_mine', None,
            "My Tickets", "Meine Tickets"),
        ('crm_service', 'act_ticket_form', 'act_ticket_form_domain_breached',
            "SLA Breached", "SLA verletzt"),
        ('crm_lifecycle', 'act_activity_followups', None,
            "My Follow-ups", "Meine Wiedervorlagen"),
        ],
    'buchhaltung': [
        ('account_invoice', 'act_invoice_out_form', None,
            "Customer Invoices", "Ausgangsrechnungen"),
        ('crm_lifecycle', 'act_party_crm', None, "Customers", "Kunden"),
        ],
    'leitung': [
        ('crm_lifecycle', 'act_reporting_funnel_channel', None,
            "Conversion by Channel", "Konversion nach Kanal"),
        ('crm_lifecycle', 'act_reporting_funnel_event', None,
            "Conversion by Event", "Konversion nach Veranstaltung"),
        ('crm_lifecycle', 'act_party_crm', None, "Customers", "Kunden"),
        ],
    }
DASHBOARDS['admin'] = DASHBOARDS['leitung']


def load_dashboards(cfg, activated, users, ref):
    from proteus import Model
    Action = Model.get('dashboard.action')
    ActWindow = Model.get('ir.action.act_window')
    ActWindowDomain = Model.get('ir.action.act_window.domain')
    User = Model.get('res.user')
    step("Dashboards per department")
    copies = {}

    def dashboard_copy(module, fs_id, tab, name, german):
        key = (module, fs_id, tab)
        if key in copies:
            return copies[key]
        original = ActWindow(ref(module, fs_id))
        action = ActWindow(name=name, usage='dashboard')
        for field in ['res_model', 'domain', 'context', 'order',
                'context_domain', 'limit']:
            setattr(action, field, getattr(original, field))
        # proteus sets a Char to '' for None, which PostgreSQL's foreign
        # key of context_model to ir_model refuses
        if original.context_model:
            action.context_model = original.context_model
        if tab:
            action.domain = ActWindowDomain(ref(module, tab)).domain
        for view in original.act_window_views:
            action.act_window_views.new(
                view=view.view, sequence=view.sequence)
        if action.domain and action.domain != '[]':
            # The web client's dashboard (sao 8.0 board.js) ignores the
            # domain of the action but applies its tabs: the filter is
            # also the one tab, with its count.
            action.act_window_domains.new(
                name=name, domain=action.domain, count=True, sequence=10)
        action.save()
        with cfg.set_context(language='de'):
            action = ActWindow(action.id)
            action.name = german
            for domain in action.act_window_domains:
                domain.name = german
            action.save()
        copies[key] = action
        return action

    for login, actions in DASHBOARDS.items():
        user = users.get(login) or User(1)
        for sequence, (module, fs_id, tab, name, german) in enumerate(
                actions, 1):
            if module not in activated:
                continue
            act_window = dashboard_copy(module, fs_id, tab, name, german)
            Action(user=User(user.id), act_window=ActWindow(act_window.id),
                sequence=sequence * 10).save()
    step(f"  {len(copies)} dashboard actions for "
        f"{len([u for u in DASHBOARDS if u == 'admin' or u in users])} users")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='trytond.conf')
    parser.add_argument('--database', default='demo')
    parser.add_argument('--reset', action='store_true')
    parser.add_argument('--small', action='store_true',
        help="a dozen customers instead of fifty (for tests)")
    parser.add_argument('--port', type=int, default=8000,
        help="the port the demo is served on (for the message at the end)")
    parser.add_argument('--uri',
        help="the database server instead of the config's, e.g. "
        "postgresql://user@/ (the database is created on it)")
    args = parser.parse_args()
    config = (ROOT / args.config).resolve()
    if args.uri:
        config = with_uri(config, args.uri, args.database)
    pg_uri = postgresql_uri(config)
    if pg_uri:
        # trytond picks its backend when first imported: from this config
        os.environ['TRYTOND_CONFIG'] = str(config)
    path = database_path(config, args.database)
    password_file = path.with_suffix('.password')
    if pg_uri:
        exists = postgresql_exists(pg_uri, args.database)
    else:
        exists = path.exists() and path.stat().st_size

    if exists and not args.reset:
        print("The demo database already exists: "
            + (args.database if pg_uri else str(path)))
        print("It is reused; rebuild it with: make demo-db RESET=1")
        if password_file.exists():
            print(f"Log in as admin with password: "
                f"{password_file.read_text().strip()}")
        print_logins()
        return 0
    global STARTED
    STARTED = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    if pg_uri:
        # trytond-admin fills a database but does not create one
        if exists:
            postgresql(
                pg_uri, f'DROP DATABASE "{args.database}" WITH (FORCE)')
        postgresql(pg_uri, f'CREATE DATABASE "{args.database}" '
            "TEMPLATE template0 ENCODING 'UTF8'")
    else:
        # With the file, its SQLite journals: a stale -wal would be
        # replayed into the new database.
        for stale in [path] + [
                path.with_name(path.name + s) for s in ['-wal', '-shm',
                    '-journal']]:
            stale.unlink(missing_ok=True)
        path.touch()
    password = secrets.token_urlsafe(9)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + '\n')
    password_file.chmod(0o600)
    try:
        step("Creating the database and the admin user")
        admin(config, args.database, '--all', '-l', 'de',
            '--email', 'admin@example.com',
            env={'TRYTONPASSFILE': str(password_file)})
        modules = available_modules()
        step(f"Activating {', '.join(modules)} and their dependencies, "
            "with German")
        try:
            admin(config, args.database, '-u', *modules,
                '--activate-dependencies', '-l', 'de')
        except subprocess.CalledProcessError:
            if 'crm_projects' not in modules:
                raise
            # crm_projects is the youngest module; a demo without projects
            # beats no demo. The failed activation was rolled back.
            modules.remove('crm_projects')
            step("ACTIVATING crm_projects FAILED (see above); going on "
                f"without it: {', '.join(modules)}")
            admin(config, args.database, '-u', *modules,
                '--activate-dependencies', '-l', 'de')
        step("Loading demo records")
        load_records(config, args.database,
            'small' if args.small else 'full')
        from trytond.transaction import Transaction
        with Transaction().start(args.database, 0) as transaction:
            from trytond.pool import Pool
            pool = Pool()
            Item = pool.get('ir.module.config_wizard.item')
            Item.write(Item.search([('state', '=', 'open')]),
                {'state': 'done'})
            transaction.commit()
    except BaseException:
        if pg_uri:
            postgresql(pg_uri,
                f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        else:
            path.unlink(missing_ok=True)
        raise
    minutes, seconds = divmod(int(time.monotonic() - STARTED), 60)
    step(f"Demo database ready in {minutes} min {seconds} s: "
        + (args.database if pg_uri else str(path)))
    print(f"Log in at http://127.0.0.1:{args.port}/ as admin, "
        f"password: {password}")
    print_logins()
    return 0


def print_logins():
    print(f"Demo users (German), password {DEMO_PASSWORD}: "
        + ", ".join(login for login, _, _ in DEMO_USERS))


if __name__ == '__main__':
    sys.exit(main())
