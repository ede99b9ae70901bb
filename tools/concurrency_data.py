"""Build the database of the concurrency test (tests/test_concurrency.py):
create it, activate the suite and record, through proteus as the admin, the
admin's password, the department users and for each race of the test the
records to press the button on. Deterministic; prints the time of each step
and writes the ids the test needs as JSON.

    python tools/concurrency_data.py --config C --database D --output ids.json

The trytond configuration (backend, SQLite folder) comes from the config
file and the TRYTOND_* variables; the admin password from TRYTONPASSFILE.
The database must not exist. The suite is activated by Tryton's test
activation (trytond.tests.test_tryton.activate_module): with DB_CACHE set
(tools/run_tests.sh) it restores the activation of the same modules that
another test of the run cached (tests/test_hostile_input.py, the upstream
scenarios), or caches its own for them.
"""
import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.parse
from configparser import ConfigParser
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ['crm_lifecycle', 'crm_projects', 'crm_service']
PASSWORD = 'Race-Test-2026'
# login: groups (module, XML id), as the demo's departments (demo_db.py)
USERS = {
    'sales': [
        ('crm_lifecycle', 'group_crm_sales'), ('sale', 'group_sale'),
        ('sale_opportunity', 'group_opportunity')],
    'projects': [
        ('crm_lifecycle', 'group_crm_projects'),
        ('project', 'group_project_admin'),
        ('timesheet', 'group_timesheet_admin')],
    'service': [
        ('crm_lifecycle', 'group_crm_service'),
        ('timesheet', 'group_timesheet_admin')],
    }
STARTED = time.monotonic()


def step(message):
    print(f"[+{time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


def activate(config, database):
    "Create database with the suite activated"
    parser = ConfigParser()
    parser.read(config)
    # read when trytond is first imported
    os.environ['TRYTOND_CONFIG'] = str(config)
    os.environ['TRYTOND_DATABASE_URI'] = parser.get(
        'database', 'uri', fallback='sqlite://')
    os.environ['DB_NAME'] = database
    from trytond.tests.test_tryton import activate_module
    activate_module(MODULES)


def load(config, database):
    from proteus import Model
    from proteus import config as pconfig
    # proteus takes the backend from the URI it is given, not from the
    # configuration file: give it the file's URI with the database
    parser = ConfigParser()
    parser.read(config)
    uri = urllib.parse.urlsplit(
        parser.get('database', 'uri', fallback='sqlite://'))
    target = database
    if uri.scheme != 'sqlite':
        target = urllib.parse.urlunsplit(uri._replace(path=f'/{database}'))
    cfg = pconfig.set_trytond(target, config_file=str(config))
    # only now: trytond.backend is chosen when first imported
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company
    Company = Model.get('company.company')
    Employee = Model.get('company.employee')
    Group = Model.get('res.group')
    ModelData = Model.get('ir.model.data')
    Party = Model.get('party.party')
    User = Model.get('res.user')
    ids = {}

    step("admin password and e-mail")
    admin, = User.find([('login', '=', 'admin')])
    admin.password, = Path(
        os.environ['TRYTONPASSFILE']).read_text().splitlines()
    admin.email = 'admin@example.com'
    admin.save()

    step("company (EUR), chart, fiscal year, payment term")
    Currency = Model.get('currency.currency')
    eur = Currency(name="Euro", code='EUR', symbol="€")
    eur.rates.new(date=dt.date.today().replace(month=1, day=1),
        rate=Decimal(1))
    eur.save()
    create_company(currency=eur)
    company, = Company.find()
    create_chart(company)
    accounts = get_accounts(company)
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(company))
    fiscalyear.click('create_period')
    payment_term = create_payment_term()
    payment_term.save()

    step("department users with their employees")
    employees = {}
    for login, groups in USERS.items():
        employee = Employee(party=Party(name=f"{login.title()} Employee"),
            company=company)
        employee.party.save()
        employee.save()
        employees[login] = employee
        user = User(login=login, name=f"{login.title()} User")
        user.password = PASSWORD
        for module, fs_id in groups:
            user.groups.append(Group(ModelData.get_id(module, fs_id, {})))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.employees.append(Employee(employee.id))
        user.employee = Employee(employee.id)
        user.save()
        ids[f'user_{login}'] = user.id

    step("products and customer")
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    unit, = Uom.find([('name', '=', 'Unit')])
    hour, = Uom.find([('name', '=', 'Hour')])
    category = Category(name="Race", accounting=True)
    category.account_revenue = accounts['revenue']
    category.account_expense = accounts['expense']
    category.save()

    def product(name, type_, uom, price, **values):
        template = Template(name=name, type=type_, default_uom=uom,
            salable=True, list_price=Decimal(price),
            account_category=category, **values)
        template.save()
        return template.products[0]
    goods = product("Press", 'goods', unit, '1000')
    support = product("Support Hour", 'service', hour, '80')
    consulting = product(
        "Commissioning", 'service', hour, '100', project_service=True)

    customer = Party(name="Race Customer")
    customer.contact_mechanisms.new(type='email', value='buyer@race.example')
    customer.customer_payment_term = payment_term
    customer.save()
    contact, = customer.contact_mechanisms
    ids['customer'] = customer.id

    Sale = Model.get('sale.sale')

    def project_sale(description, method, quote_only=False):
        sale = Sale(party=customer, payment_term=payment_term,
            description=description, project_invoice_method=method)
        line = sale.lines.new()
        line.product = consulting
        line.quantity = 10
        sale.click('quote')
        if quote_only:
            return sale
        sale.click('confirm')
        sale.reload()
        return sale

    step("projects: accepted milestone, empty order, time and material")
    Milestone = Model.get('project.milestone')
    sale = project_sale("Race milestone invoice", 'milestone')
    project, = sale.projects
    milestone = Milestone(project=project, name="Design")
    milestone.percentage = Decimal('0.30')
    milestone.save()
    milestone.click('reach')
    milestone.accepted_by = contact
    milestone.click('accept')
    assert milestone.state == 'accepted', milestone.state
    ids['milestone'] = milestone.id

    share_sale = project_sale("Race milestone share", 'milestone')
    share_project, = share_sale.projects
    ids['share_project'] = share_project.id

    tm_sale = project_sale("Race time and material", 'timesheet')
    tm_project, = tm_sale.projects
    task, = tm_project.children
    twork, = task.timesheet_works
    TimesheetLine = Model.get('timesheet.line')
    line = TimesheetLine(employee=Employee(employees['projects'].id),
        work=twork, duration=dt.timedelta(hours=1))
    line.save()
    ids['tm_project'] = tm_project.id

    quotation = project_sale("Race confirmation", 'milestone',
        quote_only=True)
    assert quotation.state == 'quotation', quotation.state
    ids['quotation'] = quotation.id

    step("opportunity ready to convert")
    Opportunity = Model.get('sale.opportunity')
    opportunity = Opportunity(party=customer, description="Race deal")
    opportunity.address, = customer.addresses
    opportunity.payment_term = payment_term
    opportunity.employee = Employee(employees['sales'].id)
    opportunity_line = opportunity.lines.new()
    opportunity_line.product = goods
    opportunity_line.quantity = 1
    opportunity.save()
    opportunity.click('opportunity')
    assert opportunity.state == 'opportunity', opportunity.state
    ids['opportunity'] = opportunity.id

    step("service: tickets, billable time, inbox")
    ServiceConfiguration = Model.get('service.configuration')
    service_configuration = ServiceConfiguration(1)
    service_configuration.service_product = support
    service_configuration.save()
    Ticket = Model.get('service.ticket')

    def ticket(title, **values):
        record = Ticket(party=customer, title=title, **values)
        record.save()
        return record
    billable = ticket("Race billable time", billable=True)
    TimesheetLine(employee=Employee(employees['service'].id),
        work=billable.work, duration=dt.timedelta(hours=1)).save()
    ids['ticket_billable'] = billable.id
    ids['ticket_respond'] = ticket("Race respond").id
    ids['ticket_hand_over'] = ticket("Race hand over").id
    ids['ticket_write'] = ticket("Race lost update").id

    Inbox = Model.get('inbound.email.inbox')
    inbox = Inbox(name="Race hotline")
    rule = inbox.rules.new()
    rule.action = 'service.ticket|from_inbound_email'
    inbox.save()
    inbox.click('new_identifier')
    ids['inbox_identifier'] = inbox.identifier
    del cfg
    ids['messages'] = messages(database)
    return ids


def messages(database):
    "The texts of the messages: the refusals the test accepts"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, readonly=True):
        pool = Pool()
        Message = pool.get('ir.message')
        return sorted({m.text for m in Message.search([])})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', required=True)
    parser.add_argument('--database', required=True)
    parser.add_argument('--output', required=True)
    args = parser.parse_args()
    step("create the database and activate "
        + ", ".join(MODULES) + " with their dependencies")
    activate(args.config, args.database)
    step("records")
    ids = load(args.config, args.database)
    ids['password'] = PASSWORD
    Path(args.output).write_text(json.dumps(ids, indent=1))
    step("done")
    return 0


if __name__ == '__main__':
    os.chdir(ROOT)
    sys.exit(main())
