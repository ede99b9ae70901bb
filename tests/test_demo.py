# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The demo database tells a year of a German machine builder
(tools/demo_db.py, built --small and served by tests/conftest.py): its
dates in the order the work happens, German text, the service desk's
tickets in every state, complaints, time over the months, payments and
the repeated-faults report. Read over XML-RPC, as the demo users."""
import datetime as dt

import pytest

DEMO_PASSWORD = 'Muster-2026'


@pytest.fixture(scope='module')
def session(demo_server):
    "Return a function that opens a proteus session as a demo user"
    from proteus import config as pconfig

    def open_(login='admin'):
        password = (demo_server.password if login == 'admin'
            else DEMO_PASSWORD)
        return pconfig.set_xmlrpc_session(
            f'{demo_server.url}/{demo_server.database}/rpc/', login,
            password=password)
    return open_


def test_invoices_after_orders_payments_after_invoices(session):
    "Every invoice is dated after its order, every payment after it"
    from proteus import Model
    with session('buchhaltung'):
        Sale = Model.get('sale.sale')
        Invoice = Model.get('account.invoice')
        today = dt.date.today()
        checked = 0
        for sale in Sale.find([('invoices', '!=', None)]):
            for invoice in sale.invoices:
                if invoice.state in {'posted', 'paid'}:
                    assert sale.sale_date <= invoice.invoice_date <= today, (
                        sale.number, invoice.number)
                    checked += 1
        assert checked >= 4
        invoices = Invoice.find([
                ('type', '=', 'out'), ('state', 'in', ['posted', 'paid'])])
        # a year of invoices, not one day
        months = {(i.invoice_date.year, i.invoice_date.month)
            for i in invoices}
        assert len(months) >= 4, months
        paid = [i for i in invoices if i.state == 'paid']
        assert paid and len(paid) < len(invoices)
        for invoice in paid:
            for line in invoice.payment_lines:
                assert line.date >= invoice.invoice_date, invoice.number


def test_stage_history_dated_by_documents(session):
    "The stage history spreads over the year, in order for each customer"
    from proteus import Model
    with session('leitung'):
        History = Model.get('crm.lifecycle.history')
        Party = Model.get('party.party')
        today = dt.date.today()
        rows = History.find([], order=[('party', 'ASC'), ('date', 'ASC'),
                ('id', 'ASC')])
        dates = [r.date.date() for r in rows]
        assert len([d for d in dates if d < today - dt.timedelta(days=30)]
            ) > len(dates) // 2, "most changes are not from today"
        assert len(set(dates)) >= 10
        by_party = {}
        for row in rows:
            by_party.setdefault(row.party.id, []).append(row)
        for party_rows in by_party.values():
            # each change starts where the one before ended
            for before, after in zip(party_rows, party_rows[1:]):
                assert after.from_stage == before.to_stage
        stages = {p.lifecycle_stage for p in Party.find(
                [('lifecycle_stage', '!=', None)])}
        assert {'contact', 'lead', 'quoted', 'customer', 'lost',
            'dormant'} <= stages
        since = {p.lifecycle_since.date() for p in Party.find(
                [('lifecycle_stage', '=', 'customer')])}
        assert len(since) > 1 and min(since) < today


def test_german_text(session):
    "The messages the modules wrote into the records are German"
    from proteus import Model
    with session('vertrieb'):
        Activity = Model.get('crm.activity')
        # the browser tests record contacts as the English admin
        subjects = [a.subject for a in Activity.find(
                [('create_uid.login', '!=', 'admin')])]
    assert any(s.startswith("Erstkontakt: Messe Hannover Messe 2026")
        for s in subjects)
    for english in ["First contact", "Escalation", "Response to",
            "Action item", "Breached"]:
        assert not [s for s in subjects if english in s], english


def test_tickets_complaints_time(session):
    """At least 15 tickets with descriptions in every state, the breached
    one escalated and open, complaints made through the tickets, time
    over several months"""
    from proteus import Model
    with session('service'):
        Ticket = Model.get('service.ticket')
        Complaint = Model.get('sale.complaint')
        tickets = [t for t in Ticket.find([]) if t.description]
        assert len(tickets) >= 15
        assert {t.state for t in tickets} == {
            'new', 'open', 'waiting', 'resolved', 'closed', 'cancelled'}
        breached = [t for t in tickets
            if t.sla_state == 'breached' and t.state != 'closed']
        assert breached
        assert all(t.state != 'new' and t.escalation == 'breached'
            for t in breached)
        for ticket in tickets:
            if ticket.first_response_date:
                assert ticket.first_response_date >= ticket.reported_date
            if ticket.closed_date:
                assert ticket.closed_date >= ticket.resolved_date
        complaints = Complaint.find([])
        assert len(complaints) >= 2
        assert all(c.service_tickets for c in complaints)
        if 'cause' in Complaint._fields:
            assert all(c.cause and c.internal_cost for c in complaints)
    # the cost of the time is for the administrator
    with session('admin'):
        TimesheetLine = Model.get('timesheet.line')
        lines = TimesheetLine.find([])
        assert len(lines) >= 30
        assert len({(t.date.year, t.date.month) for t in lines}) >= 3


def test_repeated_faults_report(session):
    "The repeated-faults report of the service desk shows customers"
    from proteus import Model
    with session('service'):
        RepeatedFault = Model.get('service.reporting.repeated_fault')
        rows = RepeatedFault.find([])
        assert rows
        assert max(r.tickets for r in rows) >= 3
