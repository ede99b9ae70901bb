"""Create the demo database once: all suite modules, an admin user and a
handful of realistic records. Run through `make demo-db` (RESET=1 rebuilds).
"""
import argparse
import datetime as dt
import os
import secrets
import subprocess
import sys
import time
from configparser import ConfigParser
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ['crm_lifecycle', 'crm_projects', 'crm_service']


def step(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


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


def load_records(config, database):
    from proteus import Model, Wizard
    from proteus import config as pconfig
    from trytond.modules.company.tests.tools import create_company

    pconfig.set_trytond(database, config_file=str(config))
    Company = Model.get('company.company')
    Party = Model.get('party.party')
    Currency = Model.get('currency.currency')
    User = Model.get('res.user')

    step("Company Muster Maschinenbau GmbH (EUR)")
    eur = Currency(name="Euro", code='EUR', symbol="€")
    eur.save()
    company_party = Party(name="Muster Maschinenbau GmbH")
    company_party.save()
    create_company(party=company_party, currency=eur)
    company, = Company.find()
    company.timezone = 'Europe/Berlin'
    company.save()
    admin_user = User(1)
    admin_user.reload()
    config_ctx = User.get_preferences(True, {})
    pconfig.get_config()._context = config_ctx

    Employee = Model.get('company.employee')
    employee = Employee(party=Party(name="Sabine Vertrieb"), company=company)
    employee.party.save()
    employee.save()
    admin_user.employees.append(employee)
    admin_user.employee = employee
    admin_user.save()
    pconfig.get_config()._context = User.get_preferences(True, {})

    step("Trade fair, contacts, opportunities and activities")
    Campaign = Model.get('marketing.campaign')
    fair = Campaign(name="Hannover Messe 2026")
    fair.save()
    contacts = [
        ("Müller Maschinenbau GmbH", "Anna Schmidt",
            "anna.schmidt@mueller-maschinenbau.example", 'trade_fair',
            "Two hydraulic presses for the new hall", Decimal('48000')),
        ("Schulz Logistik KG", "Jens Schulz",
            "j.schulz@schulz-logistik.example", 'trade_fair',
            "Conveyor line retrofit", Decimal('125000')),
        ("Becker Feinmechanik AG", "Laura Becker",
            "l.becker@becker-fm.example", 'phone', None, None),
        ("Hoffmann Verpackung GmbH", "Peter Hoffmann",
            "p.hoffmann@hoffmann-verpackung.example", 'web',
            "Packaging robot", Decimal('67000')),
        ("Wagner Metallbau e.K.", "Sandra Wagner",
            "info@wagner-metallbau.example", 'referral', None, None),
        ]
    for name, person, email, channel, deal, amount in contacts:
        first_contact = Wizard('crm.first_contact')
        first_contact.form.organisation = name
        first_contact.form.person = person
        first_contact.form.email = email
        first_contact.form.channel = channel
        first_contact.form.event = fair if channel == 'trade_fair' else None
        first_contact.form.note = f"First talk with {person}."
        if deal:
            first_contact.form.create_opportunity = True
            first_contact.form.description = deal
            first_contact.form.amount = amount
        first_contact.execute('check')
        if first_contact.form_state == 'duplicates':
            first_contact.execute('record')

    Activity = Model.get('crm.activity')
    now = dt.datetime.now().replace(microsecond=0)
    for party in Party.find([('lifecycle_stage', '!=', 'contact')]):
        activity = Activity(
            party=party, subject=f"Call {party.name} about the offer",
            activity_type='call', employee=employee)
        activity.date = now + dt.timedelta(days=1)
        activity.save()
    overdue = Activity(
        party=Party.find([('name', '=', "Becker Feinmechanik AG")])[0],
        subject="Send brochure", activity_type='email', employee=employee)
    overdue.date = now - dt.timedelta(days=2)
    overdue.save()
    return company


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='trytond.conf')
    parser.add_argument('--database', default='demo')
    parser.add_argument('--reset', action='store_true')
    args = parser.parse_args()
    config = (ROOT / args.config).resolve()
    path = database_path(config, args.database)
    password_file = path.with_suffix('.password')

    if path.exists() and path.stat().st_size and not args.reset:
        print(f"The demo database already exists: {path}")
        print("It is reused; rebuild it with: make demo-db RESET=1")
        if password_file.exists():
            print(f"Log in as admin with password: "
                f"{password_file.read_text().strip()}")
        return 0
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    path.touch()
    password = secrets.token_urlsafe(9)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + '\n')
    password_file.chmod(0o600)
    try:
        step("Creating the database and the admin user")
        admin(config, args.database, '--all', '--email', 'admin@example.com',
            env={'TRYTONPASSFILE': str(password_file)})
        modules = available_modules()
        step(f"Activating {', '.join(modules)} and their dependencies")
        admin(config, args.database, '-u', *modules,
            '--activate-dependencies')
        step("Loading demo records")
        load_records(config, args.database)
        from trytond.transaction import Transaction
        with Transaction().start(args.database, 0) as transaction:
            from trytond.pool import Pool
            pool = Pool()
            Item = pool.get('ir.module.config_wizard.item')
            Item.write(Item.search([('state', '=', 'open')]),
                {'state': 'done'})
            transaction.commit()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    step(f"Demo database ready in {minutes} min {seconds} s: {path}")
    print(f"Log in at http://127.0.0.1:8000/ as admin, password: {password}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
