"""Create the demo database once: a German machine builder, "Muster
Maschinenbau GmbH", with its departments, demo users, about fifty customers
at every lifecycle stage, service tickets, projects and dashboards. Run
through `make demo-db` (RESET=1 rebuilds).

It tells the company's last year: one function per department (sales,
projects, accounting, service) works as its demo user, in German, through
the public API (proteus, in this process), and dates every document in
the past in the order of the work; the stage history is then derived from
those dates (finish). It is deterministic: the random choices come from
random.Random(2026); only the dates move with today. A part that fails
fails the build.
"""
import argparse
import datetime as dt
import os
import random
import secrets
import subprocess
import sys
import time
from configparser import ConfigParser
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
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


def day(demo, days_ago):
    "The date days_ago days before today"
    return demo.today - dt.timedelta(days=days_ago)


def moment(date, hour, minute=0):
    "The UTC datetime of date at hour:minute (what the server stores)"
    return dt.datetime.combine(date, dt.time(hour, minute))


def workday(date):
    "date, or the Friday before it when it falls on a weekend"
    while date.weekday() >= 5:
        date -= dt.timedelta(days=1)
    return date


def as_user(demo, login):
    """Work as the demo user login from now on, with the preferences its
    client would send (German for every demo user; the admin, English in
    its own preferences, gets German too so that the messages the modules
    write into the records, e.g. activity subjects, come out German)"""
    from proteus import Model
    User = Model.get('res.user')
    demo.cfg.user = demo.users[login]
    demo.cfg._context = User.get_preferences(True, {})
    if login == 'admin':
        demo.cfg._context['language'] = 'de'


def load_records(config, database, size):
    """Build the company's year: the set-up as admin, then one function
    per department working as its demo user, in the order the work
    happens. Return what the final transaction dates (see main)."""
    from proteus import config as pconfig

    demo = SimpleNamespace(
        rng=random.Random(2026), size=size, database=database,
        today=dt.date.today(),
        now=dt.datetime.now().replace(microsecond=0),
        cfg=pconfig.set_trytond(database, config_file=str(config)),
        users={'admin': 1},
        # party id: when the first contact was made (dated in main)
        first_contacts={},
        )
    setup_company(demo)
    load_sales(demo)
    load_projects(demo)
    load_accounting(demo)
    load_service(demo)
    load_extras(demo)
    load_dashboards(demo)
    return demo.first_contacts


def setup_company(demo):
    "The admin sets up company, users, accounting, products and the desk"
    from proteus import Model
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

    cfg, today = demo.cfg, demo.today
    Company = Model.get('company.company')
    Country = Model.get('country.country')
    Currency = Model.get('currency.currency')
    Employee = Model.get('company.employee')
    Lang = Model.get('ir.lang')
    ModelData = Model.get('ir.model.data')
    Party = Model.get('party.party')
    User = Model.get('res.user')
    Group = Model.get('res.group')

    step("Company Muster Maschinenbau GmbH (EUR, Europe/Berlin)")
    # the dormant customers ordered up to 500 days ago
    first_year = (today - dt.timedelta(days=520)).year
    eur = Currency(name="Euro", code='EUR', symbol="€")
    eur.rates.new(date=dt.date(first_year, 1, 1), rate=Decimal(1))
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
    cfg._context['language'] = 'de'

    step("Employees and demo users (German)")
    german, = Lang.find([('code', '=', 'de')])
    names = [name for _, name, _ in DEMO_USERS] + ["Tim Techniker"]
    people = [Party(name=name) for name in names]
    Party.save(people)
    employees = [Employee(party=p, company=company) for p in people]
    Employee.save(employees)
    demo.employees = {login: e.id for (login, _, _), e in zip(
            DEMO_USERS, employees)}
    demo.technician = employees[-1].id
    demo.company = company.id
    demo.germany = germany.id

    # The admin is Sabine's desk in the browser test; it stays English.
    admin_user = User(1)
    admin_user.employees.append(Employee(demo.employees['vertrieb']))
    admin_user.employee = Employee(demo.employees['vertrieb'])
    admin_user.save()

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
    users = []
    for login, name, _ in DEMO_USERS:
        user = User(login=login, name=name)
        user.password = DEMO_PASSWORD
        user.language = german
        for module, fs_id in groups[login]:
            user.groups.append(Group(ModelData.get_id(module, fs_id, {})))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.employees.append(Employee(demo.employees[login]))
        user.employee = Employee(demo.employees[login])
        users.append(user)
    User.save(users)
    demo.users.update((u.login, u.id) for u in users)
    cfg._context = User.get_preferences(True, {})
    cfg._context['language'] = 'de'

    step("German chart of accounts, fiscal years, tax, payment term")
    # The German SKR03 chart (account_de_skr03) has no Tryton 8.0 release
    # (its latest is 7.8, pinned to trytond < 7.9), so the demo uses the
    # German-language chart that Tryton 8.0's account module ships.
    # Tryton's test tools find their records by English names
    cfg._context['language'] = 'en'
    create_chart(company, chart='account.account_template_root_de')
    accounts = get_accounts(company)
    # calendar years, from the first invoice of the year told to today
    for year in range((today - dt.timedelta(days=400)).year, today.year + 1):
        fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
                company, (dt.date(year, 1, 1), dt.date(year, 12, 31))))
        fiscalyear.click('create_period')
    cfg._context['language'] = 'de'
    tax = create_tax(Decimal('.19'), company)
    tax.name = tax.description = "USt 19 %"
    tax.save()
    PaymentTerm = Model.get('account.invoice.payment_term')
    payment_term = PaymentTerm(name="14 Tage netto")
    term_line = payment_term.lines.new(type='remainder')
    term_line.relativedeltas.new(days=14)
    payment_term.save()
    demo.payment_term = payment_term.id
    Journal = Model.get('account.journal')
    PaymentMethod = Model.get('account.invoice.payment.method')
    cash_journal, = Journal.find([('type', '=', 'cash')])
    bank = PaymentMethod(name="Überweisung", journal=cash_journal)
    bank.credit_account = bank.debit_account = accounts['cash']
    bank.save()
    demo.bank = bank.id

    step("Products: goods, an hourly service, a project service")
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    unit = Uom(ModelData.get_id('product', 'uom_unit', {}))
    hour = Uom(ModelData.get_id('product', 'uom_hour', {}))
    category = Category(name="Maschinen und Leistungen", accounting=True)
    category.account_revenue = accounts['revenue']
    category.account_expense = accounts['expense']
    category.customer_taxes.append(tax)
    category.save()
    templates = []
    for name, type_, uom, price, project in [
            ("Hydraulikpresse HP-200", 'goods', unit, '24000', False),
            ("Ersatzteilset Hydraulik", 'goods', unit, '850', False),
            ("Servicetechniker-Stunde", 'service', hour, '95', False),
            ("Inbetriebnahme und Schulung", 'service', hour, '120', True),
            ]:
        template = Template(name=name, type=type_, default_uom=uom)
        template.salable = True
        template.list_price = Decimal(price)
        template.account_category = category
        template.project_service = project
        templates.append(template)
    Template.save(templates)
    demo.press, demo.spare, demo.service_hour, demo.commissioning = [
        t.products[0].id for t in templates]

    Configuration = Model.get('crm.configuration')
    configuration = Configuration(1)
    configuration.dormant_days = 180
    configuration.save()
    Campaign = Model.get('marketing.campaign')
    fair = Campaign(name="Hannover Messe 2026")
    fair.save()
    demo.fair = fair.id
    # the fair of the year told, in spring
    demo.fair_day = workday(day(demo, 225))

    step("Service desk set-up: SLA (Mon-Fri 8-17), team, complaint types")
    SLA = Model.get('service.sla')
    Team = Model.get('service.team')
    svenja = Employee(demo.employees['service'])
    team = Team(name="Hotline", lead=svenja)
    team.members.append(Employee(svenja.id))
    team.members.append(Employee(demo.technician))
    team.save()
    demo.team = team.id
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
    ServiceConfiguration = Model.get('service.configuration')
    service_configuration = ServiceConfiguration(1)
    service_configuration.default_sla = sla
    service_configuration.service_product = Model.get('product.product')(
        demo.service_hour)
    service_configuration.save()
    ComplaintType = Model.get('sale.complaint.type')
    IrModel = Model.get('ir.model')
    complaint_types = []
    for name, model in [("Auftrag", 'sale.sale'),
            ("Rechnung", 'account.invoice')]:
        complaint_type = ComplaintType(name=name)
        complaint_type.origin, = IrModel.find([('name', '=', model)])
        complaint_types.append(complaint_type)
    ComplaintType.save(complaint_types)


def customer_names(demo, count):
    "Return count (name, person, e-mail, postal code, city, street)"
    rng = demo.rng
    # Every surname once: the duplicate check of the wizard stays quiet.
    surnames = rng.sample(SURNAMES, count)
    people = []
    for surname in surnames:
        trade_name, form = rng.choice(TRADES)
        name = f"{surname} {trade_name} {form}"
        first = rng.choice(FIRST_NAMES)
        domain = f"{surname}-{trade_name}".lower()
        for umlaut, ascii_ in [
                ('ä', 'ae'), ('ö', 'oe'), ('ü', 'ue'), ('ß', 'ss')]:
            domain = domain.replace(umlaut, ascii_)
        postal_code, city = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
        people.append((name, f"{first} {surname}",
                f"{first.lower()}@{domain}.example".replace('ö', 'oe')
                .replace('ü', 'ue').replace('ä', 'ae'),
                postal_code, city, street))
    return people


def load_sales(demo):
    """Sales (Sabine Vertrieb): the year's first contacts through the New
    Contact wizard, opportunities, quotations, orders, lost deals, the old
    customers from before the CRM and the activities around them"""
    from proteus import Model, Wizard
    as_user(demo, 'vertrieb')
    rng = demo.rng
    Activity = Model.get('crm.activity')
    Campaign = Model.get('marketing.campaign')
    Employee = Model.get('company.employee')
    LostReason = Model.get('crm.lost_reason')
    Opportunity = Model.get('sale.opportunity')
    Party = Model.get('party.party')
    PaymentTerm = Model.get('account.invoice.payment_term')
    Product = Model.get('product.product')
    Sale = Model.get('sale.sale')
    fair = Campaign(demo.fair)
    payment_term = PaymentTerm(demo.payment_term)
    sabine = Employee(demo.employees['vertrieb'])
    press, spare, service_hour = (Product(demo.press), Product(demo.spare),
        Product(demo.service_hour))

    counts = dict(contact=8, lead=8, quoted=7, customer=14, lost=5,
        dormant=5)
    if demo.size == 'small':
        counts = dict(contact=2, lead=2, quoted=2, customer=4, lost=1,
            dormant=1)
    step(f"Sales (vertrieb): {sum(counts.values()) + 1} customers over the "
        "year, from the first contact to the order")
    people = iter(customer_names(demo, sum(counts.values())))

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
            # generated names may look alike: a party of its own each
            wizard.execute('record_new')
        return name

    # When each stage's parties were met (days ago): the customers spread
    # over the year, the oldest first (the service desk's tickets about
    # their machines come after their orders)
    fair_days = (demo.today - demo.fair_day).days
    customer_days = iter([
            360 - number * (210 // counts['customer']) + rng.randint(-3, 3)
            for number in range(counts['customer'])])
    met = {
        'lead': lambda: rng.randint(20, 120),
        'quoted': lambda: rng.randint(60, 200),
        'customer': lambda: next(customer_days),
        'lost': lambda: rng.randint(90, 300),
        }
    parties = {stage: [] for stage in counts}
    met_on, addresses, dormant = {}, {}, []
    # The lead the browser test opens: one open opportunity and the note of
    # the first contact.
    mueller = first_contact(
        "Müller Maschinenbau GmbH", "Anna Schmidt",
        "anna.schmidt@mueller-maschinenbau.example", 'trade_fair',
        "Erstes Gespräch mit Anna Schmidt am Stand: zwei Pressen für die "
        "neue Halle.",
        ("Zwei Hydraulikpressen für die neue Halle", Decimal('48000')))
    met_on[mueller] = fair_days
    for stage, count in counts.items():
        for _ in range(count):
            name, person, email, postal_code, city, street = next(people)
            if stage == 'dormant':
                # Old customers from before the CRM: no first contact
                # (a recent contact would keep them awake).
                party = Party(name=name)
                party.contact_mechanisms.new(
                    type='email', value=email, name=person)
                dormant.append((party, (postal_code, city, street)))
                continue
            if stage == 'contact' or (
                    stage in {'quoted', 'lost'} and rng.random() < .5):
                channel = 'trade_fair'
                days = fair_days - rng.randint(0, 2)
            else:
                channel = rng.choice(['phone', 'web', 'referral'])
                days = met[stage]()
            deal = None
            if stage in {'lead', 'lost'} or (
                    stage in {'quoted', 'customer'} and rng.random() < .5):
                deal = rng.choice(DEALS)
            note = {
                'trade_fair': f"Gespräch mit {person} am Stand auf der "
                "Hannover Messe.",
                'phone': f"{person} hat angerufen und nach unseren Pressen "
                "gefragt.",
                'web': f"Anfrage von {person} über das Kontaktformular.",
                'referral': f"{person} kam auf Empfehlung eines Kunden.",
                }[channel]
            first_contact(name, person, email, channel, note, deal)
            parties[stage].append(name)
            met_on[name] = days
            addresses[name] = (postal_code, city, street)
    if dormant:
        Party.save([p for p, _ in dormant])
        for party, address in dormant:
            parties['dormant'].append(party.name)
            addresses[party.name] = address
    # from the names the wizard recorded to the parties, in one search
    ids = {p.name: p.id for p in Party.find([('name', 'in', list(met_on)
                    + parties['dormant'])])}
    parties = {stage: [ids[n] for n in names]
        for stage, names in parties.items()}
    met_on = {ids[n]: d for n, d in met_on.items()}
    addresses = {ids[n]: a for n, a in addresses.items()}
    mueller = ids[mueller]
    demo.first_contacts.update({
            p: moment(day(demo, d), 9) for p, d in met_on.items()})

    # the addresses, in one save
    records = Party.find([('id', 'in', list(addresses))])
    for party in records:
        address, = party.addresses
        address.postal_code, address.city, address.street = addresses[
            party.id]
        address.country = Model.get('country.country')(demo.germany)
        if party.id in parties['customer']:
            # Sabine looks after the customers: her My Customers
            party.crm_account_manager = sabine
    Party.save(records)

    step("  opportunities, quotations and orders, dated")
    opportunities = {o.party.id: o for o in Opportunity.find(
            [('party', 'in', list(met_on))])}
    quoted = parties['quoted'] + parties['customer']
    dates = {}
    for party_id in quoted:
        quotation = met_on[party_id] - rng.randint(10, 30)
        order = quotation - rng.randint(7, 25)
        dates[party_id] = (day(demo, quotation), day(demo, order))
    # every opportunity starts the day of the first contact
    for party_id, opportunity in opportunities.items():
        opportunity.start_date = day(demo, met_on[party_id])
        if party_id in dates:
            opportunity.address = Party(party_id).addresses[0]
            opportunity.payment_term = payment_term
            opportunity.employee = sabine
            line = opportunity.lines.new()
            line.product = rng.choice([press, spare])
            line.quantity = rng.randint(1, 3)
    Opportunity.save(list(opportunities.values()))

    lost = [opportunities[p] for p in parties['lost']]
    lost_reasons = LostReason.find([])
    for opportunity in lost:
        opportunity.crm_lost_reason = rng.choice(lost_reasons)
    Opportunity.save(lost)
    Opportunity.click(lost, 'lost')
    # Lost and won close the opportunities today: they ended when they
    # did, weeks after the first contact, on the day of the order
    ended = {o.id: o.start_date + dt.timedelta(days=rng.randint(20, 60))
        for o in lost}

    converting = [opportunities[p] for p in quoted if p in opportunities]
    Opportunity.click(converting, 'opportunity')
    Opportunity.click(converting, 'convert')
    sales = {s.party.id: s for s in Sale.find(
            [('party', 'in', quoted), ('state', '=', 'draft')])}
    for party_id in quoted:
        sale = sales.get(party_id)
        if not sale:
            sale = sales[party_id] = Sale(party=Party(party_id))
            for item, quantity in [
                    (rng.choice([press, spare]), rng.randint(1, 3)),
                    (service_hour, rng.choice([4, 8, 16]))]:
                line = sale.lines.new()
                line.product = item
                line.quantity = quantity
        sale.payment_term = payment_term
        sale.quotation_date, order_date = dates[party_id]
        if party_id in parties['customer']:
            sale.sale_date = order_date
    for party_id in parties['dormant']:
        old = rng.randint(300, 500)
        sale = sales[party_id] = Sale(party=Party(party_id))
        sale.payment_term = payment_term
        sale.invoice_method = 'manual'
        sale.quotation_date = day(demo, old + 14)
        sale.sale_date = day(demo, old)
        line = sale.lines.new()
        line.product = spare
        line.quantity = rng.randint(1, 4)
    Sale.save(list(sales.values()))
    Sale.click(list(sales.values()), 'quote')
    orders = [sales[p] for p in parties['customer'] + parties['dormant']]
    Sale.click(orders, 'confirm')
    ended.update((opportunities[p].id, dates[p][1])
        for p in parties['customer'] if p in opportunities)
    closed = Opportunity.find([('id', 'in', list(ended))])
    for opportunity in closed:
        opportunity.end_date = ended[opportunity.id]
    Opportunity.save(closed)
    # the open ones are expected to close in the coming months: the
    # weighted pipeline forecast spreads them over the months
    pipeline = Opportunity.find([
            ('id', 'not in', list(ended)),
            ('id', 'not in', [o.id for o in converting]),
            ('party', 'in', list(met_on)),
            ])
    for opportunity in pipeline:
        opportunity.end_date = day(demo, -rng.randint(15, 150))
    Opportunity.save(pipeline)

    step("  project orders: commissioning by the hour and by milestones")
    commissioning = Product(demo.commissioning)
    project_sales = []
    for party_id, description, hours, method, days in [
            (parties['customer'][0], "Inbetriebnahme Pressenlinie", 160,
                'milestone', 170),
            (parties['customer'][1], "Schulung und Betreuung Bediener", 120,
                'timesheet', 130)]:
        sale = Sale(party=Party(party_id), payment_term=payment_term)
        sale.description = description
        sale.quotation_date = day(demo, days + 14)
        sale.sale_date = day(demo, days)
        if method == 'timesheet':
            sale.project_invoice_method = 'timesheet'
        line = sale.lines.new()
        line.product = commissioning
        line.quantity = hours
        project_sales.append(sale)
    Sale.save(project_sales)
    Sale.click(project_sales, 'quote')
    Sale.click(project_sales, 'confirm')
    demo.project_sales = [s.id for s in project_sales]
    demo.orders = {p: sales[p].id for p in parties['customer']}
    demo.order_dates = {p: dates[p][1] for p in parties['customer']}
    demo.parties = parties
    demo.mueller = mueller

    step("  activities of Sabine Vertrieb: done, planned and overdue")
    activities, done = [], []

    def plan(party_id, subject, kind, date, is_done=False, resource=None,
            description=None):
        activity = Activity(party=Party(party_id), subject=subject,
            activity_type=kind, employee=sabine, direction='out')
        activity.date = moment(date, rng.randint(7, 15))
        activity.description = description
        if resource:
            activity.resource = resource
        activities.append(activity)
        if is_done:
            done.append(activity)

    def soon(days):
        return demo.today + dt.timedelta(days=days)

    for party_id in parties['lead']:
        name = Party(party_id).name
        plan(party_id, f"Angebot mit {name} abstimmen", 'call',
            soon(days=rng.randint(1, 10)))
    for party_id in parties['quoted']:
        sale = sales[party_id]
        plan(party_id, f"Angebot {sale.number} erläutert", 'call',
            sale.quotation_date + dt.timedelta(days=2), is_done=True,
            resource=sale)
        plan(party_id, f"Nachfassen Angebot {sale.number}", 'call',
            soon(days=rng.randint(-3, 7)), resource=sale)
    for party_id in parties['customer']:
        sale = sales[party_id]
        plan(party_id, f"Auftragsbestätigung {sale.number} besprochen",
            'call', sale.sale_date + dt.timedelta(days=1), is_done=True,
            resource=sale)
        plan(party_id, "Zufriedenheit nach Lieferung erfragen", 'call',
            sale.sale_date + dt.timedelta(days=rng.randint(30, 45)),
            is_done=True,
            description="Kunde zufrieden, Presse läuft im Zweischichtbetrieb.")
    for party_id in parties['customer'][:4]:
        plan(party_id, f"Besuch bei {Party(party_id).name}", 'visit',
            soon(days=rng.randint(2, 14)))
    contacts = parties['contact']
    for party_id in rng.sample(contacts, min(4, len(contacts))):
        plan(party_id, f"Prospekt an {Party(party_id).name} senden",
            'email', soon(days=-rng.randint(1, 5)))
    plan(mueller, "Angebot für die Hydraulikpressen vorbereiten", 'call',
        soon(days=1))
    Activity.save(activities)
    # done in the past: no follow-up asked for
    Activity.click(done, 'do')


def load_projects(demo):
    """Projects (Paul Projekt): the orders made projects; milestones
    reached and accepted in their months, time logged over the months,
    the kick-off protocol"""
    from proteus import Model
    as_user(demo, 'projekt')
    rng = demo.rng
    Employee = Model.get('company.employee')
    Milestone = Model.get('project.milestone')
    Protocol = Model.get('project.protocol')
    Sale = Model.get('sale.sale')
    TimesheetLine = Model.get('timesheet.line')
    paul = Employee(demo.employees['projekt'])
    tim = Employee(demo.technician)
    step("Projects (projekt): milestones, time over the months, protocol")

    sale, tm_sale = [Sale(i) for i in demo.project_sales]
    project, = sale.projects
    tm_project, = tm_sale.projects
    start = sale.sale_date
    contact = sale.party.contact_mechanisms[0]
    milestones = []
    for sequence, (name, share, planned, reached) in enumerate([
                ("Aufstellung", '0.30', 30, 32),
                ("Inbetriebnahme", '0.50', 110, 112),
                ("Abnahme", '0.20', 190, None)], 1):
        milestone = Milestone(project=project, name=name,
            sequence=sequence)
        milestone.percentage = Decimal(share)
        milestone.planned_date = start + dt.timedelta(days=planned)
        if reached is not None:
            milestone.reached_date = start + dt.timedelta(days=reached)
            milestone.accepted_date = milestone.reached_date + (
                dt.timedelta(days=2))
            milestone.accepted_by = contact
            milestone.acceptance_note = (
                f"{name} ohne Mängel abgenommen")
        milestones.append(milestone)
    Milestone.save(milestones)
    done = milestones[:2]
    Milestone.click(done, 'reach')
    Milestone.click(done, 'accept')
    Milestone.click(done, 'create_invoice')
    demo.milestone_invoices = [
        (m.invoice.id, m.accepted_date + dt.timedelta(days=3))
        for m in Milestone.find([('id', 'in', [m.id for m in done])])]

    # the time against both orders: weekly, by Paul and Tim
    lines = []
    works = []
    for work_project, first_day in [
            (project, start), (tm_project, tm_sale.sale_date)]:
        task, = work_project.children or [work_project]
        works.append((task.timesheet_works[0], first_day))
    for twork, first_day in works:
        date = workday(first_day + dt.timedelta(days=7))
        while date < demo.today - dt.timedelta(days=2):
            for employee in [paul, tim]:
                line = TimesheetLine(employee=employee, work=twork)
                line.date = date
                line.duration = dt.timedelta(hours=rng.choice([1, 2, 3]))
                line.description = rng.choice([
                        "Aufbau und Ausrichtung", "Steuerung parametriert",
                        "Bedienerschulung", "Probelauf mit Kunde",
                        "Dokumentation ergänzt"])
                lines.append(line)
            date = workday(date + dt.timedelta(days=rng.choice([6, 7, 8])))
    TimesheetLine.save(lines)
    demo.project_lines = len(lines)

    protocol = Protocol(project=project, title="Kick-off beim Kunden")
    protocol.date = start + dt.timedelta(days=5)
    protocol.attendees = f"{contact.name}, Paul Projekt, Tim Techniker"
    protocol.decisions = "Aufstellung in Halle 3, Fundament durch den Kunden"
    item = protocol.action_items.new(description="Fundamentplan senden")
    item.owner = paul
    item.due_date = protocol.date + dt.timedelta(days=3)
    item = protocol.action_items.new(
        description="Stromanschluss 400 V prüfen")
    item.owner = tim
    item.due_date = protocol.date + dt.timedelta(days=10)
    protocol.save()
    # the action items were done in their week
    Activity = Model.get('crm.activity')
    items = Activity.find([
            ('resource', 'like', 'project.protocol,%'),
            ('state', '=', 'planned'),
            ])
    Activity.click(items, 'do')
    step(f"  2 projects, {len(milestones)} milestones, {len(lines)} time "
        "lines, 1 protocol")


def load_accounting(demo):
    """Accounting (Bernd Buchhaltung): the invoices of the orders and
    milestones posted in date order, most of them paid two to four weeks
    later"""
    from proteus import Model
    as_user(demo, 'buchhaltung')
    # the payment dates of last year's invoices are past: what Bernd
    # confirms in the client's warning
    demo.cfg.skip_warning = True
    rng = demo.rng
    Invoice = Model.get('account.invoice')
    PaymentMethod = Model.get('account.invoice.payment.method')
    bank = PaymentMethod(demo.bank)
    step("Accounting (buchhaltung): invoices dated after their orders, "
        "payments")
    dates = {}
    for invoice in Invoice.find([
                ('type', '=', 'out'), ('state', '=', 'draft')]):
        sale_date = demo.order_dates.get(invoice.party.id)
        dates[invoice.id] = sale_date
    invoice_dates = {}
    for invoice_id, sale_date in dates.items():
        if sale_date:
            invoice_dates[invoice_id] = min(
                sale_date + dt.timedelta(days=rng.randint(5, 20)),
                day(demo, 3))
    invoice_dates.update(
        (i, min(d, day(demo, 1))) for i, d in demo.milestone_invoices)
    invoices = Invoice.find([('id', 'in', list(invoice_dates))])
    # Invoice numbers follow the invoice dates: post the oldest first.
    invoices.sort(key=lambda i: (invoice_dates[i.id], i.id))
    for invoice in invoices:
        invoice.invoice_date = invoice_dates[invoice.id]
    Invoice.save(invoices)
    Invoice.click(invoices, 'post')
    paid = 0
    for number, invoice in enumerate(invoices):
        payment = invoice.invoice_date + dt.timedelta(
            days=rng.randint(10, 30))
        # a few open items: the recent ones and every fourth
        if payment >= demo.today or number % 4 == 3:
            continue
        pay = invoice.click('pay')
        pay.form.payment_method = bank
        pay.form.date = payment
        pay.execute('choice')
        paid += 1
    demo.cfg.skip_warning = False
    step(f"  {len(invoices)} invoices posted, {paid} paid")


# The service desk's year: (title, kind, priority, channel, product, days
# ago, state, customer number, description). Customer 0 and 1 have the
# repeated faults; complaints are about the customer's order.
TICKETS = [
    ("Presse verliert Hydrauliköl", 'fault', 'high', 'phone', 'press',
        200, 'closed', 0,
        "An der HP-200 in Halle 2 tritt am Hauptzylinder Öl aus. Der "
        "Bediener hat die Presse abgeschaltet."),
    ("Hydraulikdruck fällt im Betrieb ab", 'fault', 'high', 'email',
        'press', 95, 'closed', 0,
        "Der Druck fällt nach zwei Stunden Betrieb von 200 auf 160 bar, "
        "die Teile werden nicht mehr sauber geprägt."),
    ("Presse verliert erneut Öl", 'fault', 'urgent', 'phone', 'press',
        9, 'waiting', 0,
        "Wieder Ölverlust am Hauptzylinder, diesmal an der Dichtung oben. "
        "Kunde prüft, ob der Zylinder getauscht werden soll."),
    ("Dichtung aus dem Ersatzteilset undicht", 'fault', 'normal', 'email',
        'spare', 150, 'closed', 1,
        "Die mitgelieferte Dichtung DN 40 ist nach einer Woche undicht."),
    ("Ventil aus dem Ersatzteilset klemmt", 'fault', 'high', 'phone',
        'spare', 6, 'resolved', 1,
        "Das Wegeventil schaltet nur mit Verzögerung. Ersatz ist "
        "verschickt, Kunde bestätigt noch den Einbau."),
    ("Frage zur Wartungsanleitung", 'question', 'low', 'email', 'press',
        60, 'closed', 2,
        "Welches Hydrauliköl ist für den Winterbetrieb freigegeben?"),
    ("Schulung für neue Bediener", 'question', 'normal', 'phone', None,
        120, 'closed', 3,
        "Drei neue Bediener im Frühjahr; Kunde fragt nach einem "
        "Schulungstermin vor Ort."),
    ("Wartung 2000 Betriebsstunden", 'maintenance', 'normal', 'portal',
        'press', 40, 'closed', 2,
        "Die Presse hat 2000 Betriebsstunden erreicht; planmäßige Wartung "
        "mit Ölwechsel und Filtertausch."),
    ("Lichtschranke löst sporadisch aus", 'fault', 'high', 'phone',
        'press', 4, 'resolved', 3,
        "Die Sicherheitslichtschranke stoppt die Presse mehrmals pro "
        "Schicht ohne erkennbaren Grund."),
    ("Geräusche am Antrieb", 'fault', 'normal', 'email', 'press', 12,
        'waiting', 1,
        "Lautes Pfeifen am Hauptantrieb beim Anfahren. Kunde schickt eine "
        "Tonaufnahme."),
    ("Steuerung zeigt Fehler E42", 'fault', 'high', 'phone', 'press', 3,
        'escalated', 2,
        "Fehler E42 (Druckschalter) nach jedem Werkzeugwechsel; die "
        "Presse läuft nur im Einrichtbetrieb."),
    ("Software-Update der Steuerung", 'change_request', 'normal', 'email',
        'press', 2, 'open', 3,
        "Kunde wünscht das Update auf Version 4.2 für die neue "
        "Rezeptverwaltung."),
    ("Bedarf: zweite Presse für Werk 2", 'question', 'normal', 'phone',
        None, 1, 'handed_over', 0,
        "Beim Telefonat erwähnt: Werk 2 braucht im nächsten Jahr eine "
        "zweite HP-200. An den Vertrieb übergeben."),
    ("Ersatzteil falsch geliefert", 'complaint', 'normal', 'email',
        'spare', 70, 'complaint_closed', 2,
        "Statt des Dichtungssatzes DN 40 wurde DN 50 geliefert; der "
        "Kunde hatte deswegen einen Tag Stillstand."),
    ("Lieferung zwei Wochen verspätet", 'complaint', 'high', 'letter',
        'press', 8, 'complaint', 3,
        "Der Kunde beanstandet die verspätete Lieferung der Presse und "
        "fordert eine Gutschrift für die Ausfallzeit."),
    ("Presse startet nicht nach Stromausfall", 'fault', 'urgent', 'phone',
        'press', 0, 'new', 1,
        "Nach einem Stromausfall im Werk lässt sich die Presse nicht mehr "
        "einschalten, Anzeige bleibt dunkel."),
    ("Angebot für Wartungsvertrag gewünscht", 'question', 'low', 'portal',
        None, 0, 'new', 2,
        "Kunde möchte die jährliche Wartung als Vertrag abschließen."),
    ("Doppelte E-Mail zur Lichtschranke", 'question', 'low', 'email',
        None, 4, 'cancelled', 3,
        "Die gleiche Meldung kam ein zweites Mal per E-Mail; sie ist "
        "schon als Ticket erfasst."),
    ]


class TicketClock:
    """The service desk's clock for the demo: Ticket._now is the model's
    hook for the current time (SLA clock, workflow dates, responses); set
    to the moment of each step of a ticket's past, it dates them as they
    happened. Only the demo build, in its own process, sets it."""

    def __init__(self, database):
        from trytond.pool import Pool
        self.Ticket = Pool(database).get('service.ticket')
        self.moment = None

    def __enter__(self):
        clock = self

        def _now(cls):
            return clock.moment or dt.datetime.now().replace(microsecond=0)
        self.Ticket._now = classmethod(_now)
        return self

    def __exit__(self, *exc):
        del self.Ticket._now


def load_service(demo):
    """Service (Svenja Service): the tickets of the year, answered,
    waiting, resolved and closed in their days, complaints through Create
    Complaint, time on the tickets, a hand-over to sales; the escalation
    job (admin) breaches the overdue ticket, which Svenja then opens"""
    from proteus import Model
    as_user(demo, 'service')
    rng = demo.rng
    Employee = Model.get('company.employee')
    Party = Model.get('party.party')
    Product = Model.get('product.product')
    Sale = Model.get('sale.sale')
    Ticket = Model.get('service.ticket')
    TimesheetLine = Model.get('timesheet.line')
    svenja = Employee(demo.employees['service'])
    tim = Employee(demo.technician)
    products = {'press': Product(demo.press), 'spare': Product(demo.spare),
        None: None}
    customers = demo.parties['customer']
    step(f"Service (service): {len(TICKETS)} tickets of the year, "
        "complaints, time, hand-over")

    tickets, plan = {}, {}
    with TicketClock(demo.database) as clock:
        for number, (title, kind, priority, channel, product, days, state,
                customer, description) in enumerate(TICKETS):
            party_id = customers[customer % len(customers)]
            if days:
                reported = moment(workday(day(demo, days)), 7, rng.choice(
                        [0, 15, 30]))
            else:
                reported = demo.now - dt.timedelta(minutes=10 + number)
            clock.moment = reported
            ticket = Ticket(party=Party(party_id), title=title, kind=kind,
                priority=priority, channel=channel,
                product=products[product], description=description)
            ticket.reported_date = reported
            ticket.assignee = svenja if number % 2 else tim
            if kind == 'complaint':
                ticket.origin = Sale(demo.orders[party_id])
            ticket.save()
            tickets[number] = ticket
            plan[number] = (state, reported, priority, kind)
            if state in {'new', 'escalated'}:
                continue
            if state == 'cancelled':
                ticket.click('cancel')
                continue
            # answered within the hour
            clock.moment = reported + dt.timedelta(minutes=45)
            ticket.click('respond')
            if kind == 'complaint':
                ticket.click('create_complaint')

        # the technician's time on the fault and maintenance tickets, the
        # day of the call and the day after
        lines = []
        for number, ticket in tickets.items():
            state, reported, _, kind = plan[number]
            if kind not in {'fault', 'maintenance'} or state in {
                    'new', 'escalated', 'cancelled'}:
                continue
            for visit, text in enumerate(["Fehlersuche vor Ort",
                        "Teile getauscht und Probelauf"]):
                date = workday(reported.date() + dt.timedelta(days=visit))
                if date > demo.today:
                    continue
                line = TimesheetLine(employee=tim, work=ticket.work)
                line.date = date
                line.duration = dt.timedelta(hours=rng.choice([1, 2, 3]))
                line.description = text
                lines.append(line)
        TimesheetLine.save(lines)

        for number, ticket in tickets.items():
            state, reported, priority, _ = plan[number]
            if state == 'handed_over':
                ticket.click('hand_over')
            elif state in {'waiting', 'complaint'}:
                # waiting for the customer (or for sales' decision)
                clock.moment = reported + dt.timedelta(hours=2)
                ticket.click('wait')
            elif state in {'resolved', 'closed', 'complaint_closed'}:
                # solved the next working day, the urgent ones the same
                solved = moment(workday(
                        reported.date() + dt.timedelta(days=1)), 11)
                if priority == 'urgent':
                    solved = reported + dt.timedelta(hours=4)
                clock.moment = solved
                ticket.click('resolve')
                if state != 'resolved':
                    clock.moment = moment(
                        workday(solved.date() + dt.timedelta(days=3)), 9)
                    ticket.click('close')
    demo.tickets = {n: t.id for n, t in tickets.items()}

    # the night's escalation job: the overdue ticket breaches
    as_user(demo, 'admin')
    Cron = Model.get('ir.cron')
    cron, = Cron.find([('method', '=', 'service.ticket|escalate')])
    cron.click('run_once')
    as_user(demo, 'service')
    Ticket = Model.get('service.ticket')
    escalated = [Ticket(demo.tickets[n]) for n, t in enumerate(TICKETS)
        if t[6] == 'escalated']
    Ticket.click(escalated, 'open')
    states = sorted({t.state for t in Ticket.find([])})
    step(f"  {len(TICKETS)} tickets ({', '.join(states)}), {len(lines)} "
        "time lines")

    # sales answers the complaint that is settled: waiting for approval
    as_user(demo, 'vertrieb')
    Complaint = Model.get('sale.complaint')
    for number, values in enumerate(TICKETS):
        complaint = Ticket(demo.tickets[number]).complaint
        if not complaint:
            continue
        complaint = Complaint(complaint.id)
        complaint.date = workday(day(demo, values[5]))
        complaint.save()
        if values[6] == 'complaint_closed':
            complaint.click('wait')
    demo.complaints = [Ticket(demo.tickets[n]).complaint.id
        for n, t in enumerate(TICKETS) if t[1] == 'complaint']


def load_extras(demo):
    """The suite's newer features, where the modules have them: the causes
    and costs of the complaints (service desk), a prepaid hour bank used
    to 80 % (service), the customers' account managers (management)"""
    from proteus import Model
    as_user(demo, 'admin')
    IrModel = Model.get('ir.model')
    Party = Model.get('party.party')
    Ticket = Model.get('service.ticket')
    models = {m.name for m in IrModel.find([
                ('name', 'in', ['sale.complaint.cause', 'service.contract']),
                ])}
    step("Complaint causes and costs, hour bank, account managers")

    if ('sale.complaint.cause' in models
            and 'complaint_cause' in Ticket._fields):
        Cause = Model.get('sale.complaint.cause')
        causes = [Cause(name=name) for name in [
                "Lieferfehler", "Materialfehler", "Montagefehler",
                "Terminverzug", "Transportschaden"]]
        Cause.save(causes)
        causes = {c.name: c.id for c in causes}
        as_user(demo, 'service')
        Cause = Model.get('sale.complaint.cause')
        Ticket = Model.get('service.ticket')
        costs = {
            "Ersatzteil falsch geliefert": ("Lieferfehler", '380'),
            "Lieferung zwei Wochen verspätet": ("Terminverzug", '1250'),
            }
        tickets = [Ticket(demo.tickets[n]) for n, t in enumerate(TICKETS)
            if t[0] in costs]
        for ticket in tickets:
            cause, cost = costs[ticket.title]
            ticket.complaint_cause = Cause(causes[cause])
            ticket.complaint_internal_cost = Decimal(cost)
        Ticket.save(tickets)

    if 'service.contract' in models:
        as_user(demo, 'service')
        Contract = Model.get('service.contract')
        # the customer of the training project and of three fault tickets
        contract = Contract(party=Party(demo.parties['customer'][1]))
        contract.start_date = day(demo, 150)
        contract.end_date = contract.start_date + dt.timedelta(days=364)
        contract.hours = 1000
        contract.save()
        contract.click('run')
        # the prepaid hours of which the time logged is 80 %
        contract.hours = round(contract.consumed_hours / 0.8, 1)
        contract.save()

    if 'crm_account_manager' in Party._fields:
        as_user(demo, 'leitung')
        Employee = Model.get('company.employee')
        Party = Model.get('party.party')
        parties = demo.parties
        # Lena keeps the two project customers, Sabine the others
        managed = Party.find([('id', 'in', parties['customer']
                    + parties['quoted'] + parties['lead'])])
        for party in managed:
            login = ('leitung' if party.id in parties['customer'][:2]
                else 'vertrieb')
            party.crm_account_manager = Employee(demo.employees[login])
        Party.save(managed)


# Dashboards (README "Dashboards"). Tryton's dashboard only shows actions
# whose usage is "dashboard", and the suite's modules ship no demo-only
# action; so the demo copies existing actions into its own database:
# (module, action, optional domain tab of it to use as the domain,
# English name, German name).
DASHBOARDS = {
    'vertrieb': [
        ('crm_lifecycle', 'act_activity_followups', None,
            "My Follow-ups", "Meine Wiedervorlagen"),
        ('crm_lifecycle', 'act_party_crm_mine', None,
            "My Customers", "Meine Kunden"),
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
# The compact lists the boxes show instead of the actions' lists:
# {model: (module, view)}
DASHBOARD_LISTS = {
    'service.ticket': ('crm_service', 'ticket_view_list_dashboard'),
    'project.milestone': ('crm_projects', 'milestone_view_list_dashboard'),
    }


def load_dashboards(demo):
    "The admin puts each department's lists on its users' dashboards"
    from proteus import Model
    # the actions are named in English, then translated
    as_user(demo, 'admin')
    demo.cfg._context['language'] = 'en'
    cfg, users = demo.cfg, demo.users
    Action = Model.get('dashboard.action')
    ActWindow = Model.get('ir.action.act_window')
    ActWindowDomain = Model.get('ir.action.act_window.domain')
    ModelData = Model.get('ir.model.data')
    User = Model.get('res.user')
    View = Model.get('ir.ui.view')
    step("Dashboards per department")
    copies = {}

    def ref(module, fs_id):
        return ModelData.get_id(module, fs_id, {})

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
            view_ = view.view
            if view_.type == 'tree' and action.res_model in DASHBOARD_LISTS:
                view_ = View(ref(*DASHBOARD_LISTS[action.res_model]))
            action.act_window_views.new(view=view_, sequence=view.sequence)
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

    actions = []
    for login, items in DASHBOARDS.items():
        for sequence, (module, fs_id, tab, name, german) in enumerate(
                items, 1):
            act_window = dashboard_copy(module, fs_id, tab, name, german)
            actions.append(Action(user=User(users[login]),
                    act_window=ActWindow(act_window.id),
                    sequence=sequence * 10))
    Action.save(actions)
    step(f"  {len(copies)} dashboard actions for {len(DASHBOARDS)} users")


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
        modules = available_modules()
        step(f"Creating the database with {', '.join(modules)} and their "
            "dependencies, in German")
        # one run of trytond-admin makes the database, the admin user and
        # activates the modules (a second run would load the pool again)
        admin(config, args.database, '-u', *modules,
            '--activate-dependencies', '-l', 'de',
            '--email', 'admin@example.com',
            env={'TRYTONPASSFILE': str(password_file)})
        step("Loading demo records")
        first_contacts = load_records(config, args.database,
            'small' if args.small else 'full')
        finish(args.database, first_contacts)
    except BaseException:
        if pg_uri:
            postgresql(pg_uri,
                f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        else:
            path.unlink(missing_ok=True)
        raise
    minutes, seconds = divmod(round(time.monotonic() - STARTED), 60)
    print("Demo database: " + (args.database if pg_uri else str(path)))
    print(f"Log in at http://127.0.0.1:{args.port}/ as admin, "
        f"password: {password}")
    print_logins()
    print(f"Demo built in {minutes} min {seconds} s")
    return 0


def print_logins():
    print(f"Demo users (German), password {DEMO_PASSWORD}: "
        + ", ".join(login for login, _, _ in DEMO_USERS))


def finish(database, first_contacts):
    """Date the history in one transaction, through the modules' API: the
    first contacts on the day they were made (the New Contact wizard
    records today), then the stages and their history derived from the
    dated documents, as on the activation of the suite on an existing
    database (crm_lifecycle/upgrade.py)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    step("Stage history dated by the documents")
    with Transaction().start(database, 0, context={'language': 'de'}) as (
            transaction):
        pool = Pool()
        Activity = pool.get('crm.activity')
        Party = pool.get('party.party')
        Item = pool.get('ir.module.config_wizard.item')
        activities = Activity.search([
                ('party', 'in', list(first_contacts)),
                ('direction', '=', 'in'),
                ])
        to_write = []
        for activity in activities:
            to_write.extend(([activity], {
                        'date': first_contacts[activity.party.id]}))
        if to_write:
            Activity.write(*to_write)
        Party.recompute_lifecycle_stage(None)
        Item.write(Item.search([('state', '=', 'open')]), {'state': 'done'})
        transaction.commit()


if __name__ == '__main__':
    sys.exit(main())
