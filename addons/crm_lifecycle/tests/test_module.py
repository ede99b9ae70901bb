# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
import json
from collections import defaultdict
from decimal import Decimal
from unittest.mock import patch

from dateutil.relativedelta import relativedelta
from lxml import etree
from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.modules.account_invoice.tests import set_invoice_sequences
from trytond.modules.company.tests import (
    CompanyTestMixin,
    create_company,
    create_employee,
    set_company,
)
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.modules.party.tests import PartyCheckReplaceMixin
from trytond.pool import Pool
from trytond.pyson import PYSONDecoder
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction, check_access

from trytond.modules.crm_lifecycle.contact import (
    normalize_name,
    normalize_phone,
)
from trytond.modules.crm_lifecycle.party import FIGURES

from .tools import (
    QueueTestMixin,
    WebClientViewMixin,
    count_queries,
    queue_worker,
    table_accesses,
)


class CrmLifecycleTestCase(
        QueueTestMixin, WebClientViewMixin, PartyCheckReplaceMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Lifecycle module"
    module = 'crm_lifecycle'

    @property
    def _skip_company_rule(self):
        # Stage changes belong to the party, not to a company: the timeline
        # rule also lets rows without company through.
        return super()._skip_company_rule | {('crm.timeline', 'company')}

    def test_normalize_name(self):
        "Organisation names compare without legal form, case and umlauts"
        self.assertEqual(
            normalize_name("Müller Maschinenbau GmbH & Co. KG"),
            normalize_name("MUELLER  maschinenbau"))
        self.assertNotEqual(
            normalize_name("Müller Maschinenbau"),
            normalize_name("Müller Metallbau"))

    def test_normalize_phone(self):
        "Phone numbers compare by their significant digits"
        self.assertEqual(
            normalize_phone("+49 (511) 12 34-56"),
            normalize_phone("0511/123456"))
        self.assertEqual(
            normalize_phone("0049 511 123456"), normalize_phone("0511 123456"))
        self.assertEqual(normalize_phone("n/a"), '')

    def _create_customers(self, company, count, documents=3):
        "Create count parties, each with activities, opportunities and sales"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        parties = Party.create([{
                    'name': f"Customer {i}",
                    'addresses': [('create', [{}])],
                    } for i in range(count)])
        now = datetime.datetime.now()
        activities = Activity.create([{
                    'company': company.id, 'party': p.id,
                    'subject': f"Call {n}",
                    'date': now + datetime.timedelta(days=n - 1),
                    } for p in parties for n in range(documents)])
        Activity.do(activities[::documents])
        Opportunity.create([{
                    'company': company.id, 'party': p.id,
                    'currency': company.currency.id,
                    'description': f"Deal {n}", 'amount': Decimal(100),
                    } for p in parties for n in range(documents)])
        sales = Sale.create([{
                    'company': company.id, 'party': p.id,
                    'currency': company.currency.id,
                    'invoice_address': p.addresses[0].id,
                    'shipment_address': p.addresses[0].id,
                    } for p in parties for n in range(documents)])
        SaleLine.create([{
                    'sale': s.id, 'type': 'line', 'quantity': 2,
                    'unit_price': Decimal(50), 'description': "Service",
                    } for s in sales])
        Sale.quote(sales)
        Party.update_lifecycle_stage(Party.browse(parties))
        return Party.browse(parties)

    def _department_users(self, company, *groups):
        "Create one user per crm_lifecycle group, in the company"
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        users = [User(
                login=group, name=group,
                groups=[ModelData.get_id('crm_lifecycle', group)],
                companies=[company], company=company)
            for group in groups]
        User.save(users)
        return users

    def assertRefused(self, message, call, *args, **kwargs):
        "Assert that call fails with the message of the ir.message"
        with self.assertRaises(AccessError) as cm:
            call(*args, **kwargs)
        self.assertEqual(cm.exception.message, message)

    @with_transaction()
    def test_forged_workflow_fields(self):
        "Department users cannot forge stages, history or activity states"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.lifecycle.history')
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "ACME"}])
            planned, done = Activity.create([{
                        'company': company.id, 'party': party.id,
                        'subject': subject,
                        } for subject in ["Visit", "Call"]])
            Activity.do([done])
            opportunity, = Opportunity.create([{
                        'company': company.id, 'party': party.id,
                        'currency': company.currency.id}])
            sale, = Sale.create([{
                        'company': company.id, 'party': party.id,
                        'currency': company.currency.id}])
            users = self._department_users(
                company, 'group_crm_sales', 'group_crm_service')

        def snapshot():
            party_ = Party(party.id)
            return (
                Party.search([], count=True),
                party_.lifecycle_stage, party_.lifecycle_since,
                History.search([], count=True),
                [(a.state, a.date, a.followup_of)
                    for a in Activity.browse([planned, done])],
                Activity.search([], count=True),
                Opportunity(opportunity.id).crm_origin,
                Sale(sale.id).crm_quotation_followup)
        stage_message = gettext('crm_lifecycle.msg_stage_write_direct')

        def field_message(Model, name):
            return gettext(
                'crm_lifecycle.msg_workflow_field',
                field=Model.__names__(name)['field'],
                model=Model.__names__()['model'])
        back_dated = datetime.datetime(2000, 1, 1)
        for user in users:
            with self.subTest(user=user.login), \
                    Transaction().set_user(user.id), check_access(), \
                    Transaction().set_context(company=company.id):
                before = snapshot()
                self.assertRefused(stage_message, Party.create, [{
                            'name': "Forged", 'lifecycle_stage': 'customer',
                            'lifecycle_since': back_dated}])
                self.assertRefused(
                    field_message(Party, 'lifecycle_since'),
                    Party.create, [{
                            'name': "Forged", 'lifecycle_since': back_dated}])
                self.assertRefused(
                    field_message(Party, 'lifecycle_history'),
                    Party.create, [{'name': "Forged", 'lifecycle_history': [
                                ('create', [{
                                            'to_stage': 'customer',
                                            'date': back_dated}])]}])
                self.assertRefused(
                    stage_message, Party.write, [party],
                    {'lifecycle_stage': 'customer'})
                self.assertRefused(
                    field_message(Party, 'lifecycle_since'),
                    Party.write, [party], {'lifecycle_since': back_dated})
                self.assertRefused(
                    field_message(Party, 'lifecycle_history'),
                    Party.write, [party], {'lifecycle_history': [
                            ('create', [{'to_stage': 'customer'}])]})
                self.assertRefused(
                    stage_message, Party.copy, [party],
                    default={'lifecycle_stage': 'customer'})
                self.assertRefused(
                    field_message(Party, 'lifecycle_since'),
                    Party.copy, [party],
                    default={'lifecycle_since': back_dated})

                # ir.model.access: nobody may change the history
                with self.assertRaises(AccessError):
                    History.create([{
                                'party': party.id, 'to_stage': 'customer',
                                'date': back_dated}])
                history = History.search([('party', '=', party.id)])
                with self.assertRaises(AccessError):
                    History.write(history, {'to_stage': 'customer'})
                with self.assertRaises(AccessError):
                    History.delete(history)

                self.assertRefused(
                    field_message(Activity, 'state'), Activity.create, [{
                            'party': party.id, 'subject': "Forged",
                            'state': 'done'}])
                self.assertRefused(
                    field_message(Activity, 'followup_of'),
                    Activity.create, [{
                            'party': party.id, 'subject': "Forged",
                            'followup_of': done.id}])
                self.assertRefused(
                    field_message(Activity, 'state'),
                    Activity.write, [planned], {'state': 'done'})
                self.assertRefused(
                    field_message(Activity, 'state'),
                    Activity.copy, [planned], default={'state': 'done'})
                self.assertRefused(
                    gettext('crm_lifecycle.msg_activity_closed_write',
                        activity=done.rec_name,
                        field=Activity.__names__('date')['field']),
                    Activity.write, [done], {'date': back_dated})

                if user.login == 'group_crm_sales':
                    self.assertRefused(
                        field_message(Opportunity, 'crm_origin'),
                        Opportunity.write, [opportunity],
                        {'crm_origin': str(done)})
                    self.assertRefused(
                        field_message(Sale, 'crm_quotation_followup'),
                        Sale.write, [sale],
                        {'crm_quotation_followup': planned.id})
                self.assertEqual(snapshot(), before)

                # what users may do still works
                copy, = Party.copy([party])
                self.assertEqual(copy.lifecycle_stage, 'contact')
                # the copy starts its own history (DateTime keeps seconds)
                self.assertGreaterEqual(
                    copy.lifecycle_since, party.lifecycle_since)
                created, = copy.lifecycle_history
                self.assertEqual(
                    (created.from_stage, created.to_stage,
                        created.user, created.manual),
                    (None, 'contact', user, False))
                Activity.write([done], {'description': "Noted"})
                copy_activity, = Activity.copy([done])
                self.assertEqual(
                    (copy_activity.state, copy_activity.followup_of),
                    ('planned', None))

    @with_transaction()
    def test_history_only_by_system(self):
        "Even with rights on the model, users cannot record history"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.lifecycle.history')
        ModelAccess = pool.get('ir.model.access')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "ACME"}])
            user, = self._department_users(company, 'group_crm_sales')
        ModelAccess.create([{
                    'model': 'crm.lifecycle.history',
                    'group': ModelData.get_id(
                        'crm_lifecycle', 'group_crm_sales'),
                    'perm_read': True, 'perm_write': True,
                    'perm_create': True, 'perm_delete': True,
                    }])
        history = History.search([('party', '=', party.id)])
        message = gettext('crm_lifecycle.msg_lifecycle_history_system')
        with Transaction().set_user(user.id), check_access():
            self.assertRefused(message, History.create, [{
                        'party': party.id, 'to_stage': 'customer'}])
            self.assertRefused(
                message, History.write, history, {'to_stage': 'customer'})
            self.assertRefused(message, History.delete, history)
        self.assertEqual(
            History.search([('party', '=', party.id)]), history)
        self.assertEqual(
            [(h.from_stage, h.to_stage) for h in history],
            [(None, 'contact')])

    @with_transaction()
    def test_set_stage_by_admin(self):
        "CRM Administration sets a stage by hand, CRM Sales cannot"
        pool = Pool()
        Party = pool.get('party.party')
        SetStage = pool.get('crm.lifecycle.set_stage', type='wizard')
        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "ACME"}])
            admin, sales = self._department_users(
                company, 'group_crm_admin', 'group_crm_sales')
        context = {
            'active_model': 'party.party',
            'active_id': party.id, 'active_ids': [party.id]}

        with Transaction().set_user(sales.id), check_access(), \
                Transaction().set_context(context):
            with self.assertRaises(AccessError):
                SetStage.create()
            self.assertRefused(
                gettext('crm_lifecycle.msg_stage_manual_admin'),
                Party.set_lifecycle_stage_manually, [party], 'customer')
        with Transaction().set_user(admin.id), check_access(), \
                Transaction().set_context(context):
            session_id, _, _ = SetStage.create()
            SetStage.execute(session_id, {
                    'start': {'stage': 'customer', 'note': "Framework"},
                    }, 'set_')
        party = Party(party.id)
        self.assertEqual(party.lifecycle_stage, 'customer')
        latest = party.lifecycle_history[0]
        self.assertEqual(
            (latest.from_stage, latest.to_stage, latest.manual,
                latest.note, latest.user),
            ('contact', 'customer', True, "Framework", admin))

    @with_transaction()
    def test_convert_once(self):
        "Converting an opportunity again creates no second sale"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "ACME"}])
            opportunity, = Opportunity.create([{
                        'company': company.id, 'party': party.id,
                        'currency': company.currency.id,
                        'employee': create_employee(company).id}])
            sales, = self._department_users(company, 'group_crm_sales')
            with Transaction().set_user(sales.id), check_access():
                Opportunity.opportunity([opportunity])
                first = Opportunity.convert([opportunity])
                # the button is gone once converted
                with self.assertRaises(AccessButtonError):
                    Opportunity.convert([opportunity])
            # the transition skips converted opportunities
            second = Opportunity.convert([opportunity])
            sale, = Sale.search([('party', '=', party.id)])
            self.assertEqual(first['res_id'], [sale.id])
            self.assertEqual(second['res_id'], [])
            self.assertEqual(Opportunity(opportunity.id).state, 'converted')

    @with_transaction()
    def test_customer_view_query_count(self):
        "Reading the customer view costs the same for 1 or 80 parties"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            parties = self._create_customers(company, 81)
            names = FIGURES + ['lifecycle_stage', 'lifecycle_since']
            Party.read([parties[-1].id], names)

            with count_queries() as one:
                values, = Party.read([parties[0].id], names)
            with count_queries() as eighty:
                Party.read([p.id for p in parties[1:]], names)

        self.assertEqual(len(one), len(eighty))
        self.assertEqual(values['crm_open_opportunities'], 3)
        self.assertEqual(values['crm_open_opportunity_amount'], Decimal(300))
        self.assertEqual(values['crm_open_quotations'], 3)
        self.assertEqual(values['crm_open_quotation_amount'], Decimal(300))
        self.assertEqual(values['lifecycle_stage'], 'quoted')

    @with_transaction()
    def test_timeline_page_query_count(self):
        "A page of the timeline costs the same for 10 or 1000 entries"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        company = create_company()
        with set_company(company):
            small, = self._create_customers(company, 1, documents=2)
            large, = self._create_customers(company, 1, documents=250)

            def page(party, names):
                rows = Timeline.search(
                    [('party', '=', party.id)], limit=50)
                Timeline.read([r.id for r in rows], names)
                return rows
            names = ['date', 'kind', 'summary', 'amount', 'state_string']
            page(small, names)
            with count_queries() as few:
                small_rows = page(small, names)
            with count_queries() as many:
                large_rows = page(large, names)
            # The document link checks its records once per document model
            with count_queries() as linked:
                page(large, names + ['document'])

        self.assertEqual(len(few), 2)
        self.assertEqual(len(many), 2)
        self.assertLessEqual(
            len(linked), 2 + len(Timeline._get_documents()))
        self.assertEqual(len(large_rows), 50)
        self.assertLess(len(small_rows), 50)
        self.assertEqual(
            Timeline.search([('party', '=', large.id)], count=True),
            1 + 250 * 3 + 2)
        dates = [r.date for r in large_rows]
        self.assertEqual(dates, sorted(dates, reverse=True))

    def _timeline_rows(self):
        "Return every timeline row as the values a user sees"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        return sorted(
            (str(t.document), t.party.id, t.date, t.kind, t.summary,
                t.amount, t.state, t.company)
            for t in Timeline.search([]))

    @with_transaction()
    def test_timeline_follows_documents(self):
        "The stored timeline follows every change of its documents"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Activity = pool.get('crm.activity')
        Sale = pool.get('sale.sale')
        SaleLine = pool.get('sale.line')
        company = create_company()
        with set_company(company):
            customer, other = self._create_customers(company, 2, documents=1)
            activity, = Activity.create([{
                        'company': company.id, 'party': customer.id,
                        'subject': "Call", 'date': datetime.datetime(
                            2026, 3, 2, 9, 30),
                        }])
            row, = Timeline.search([('document', '=', str(activity))])
            self.assertEqual(
                (row.party, row.kind, row.summary, row.state, row.date),
                (customer, 'call', "Call", 'planned',
                    datetime.datetime(2026, 3, 2, 9, 30)))

            Activity.write([activity], {'subject': "Visit", 'party': other})
            row, = Timeline.search([('document', '=', str(activity))])
            self.assertEqual((row.party, row.summary), (other, "Visit"))
            Activity.do([activity])
            row, = Timeline.search([('document', '=', str(activity))])
            self.assertEqual(row.state, 'done')

            planned, = Activity.create([{
                        'company': company.id, 'party': customer.id,
                        'subject': "Later", 'date': datetime.datetime.now(),
                        }])
            Activity.delete([planned])
            self.assertEqual(
                Timeline.search([('document', '=', str(planned))]), [])

            # a draft's amount is the sum of its lines
            sale, = Sale.create([{
                        'company': company.id, 'party': customer.id,
                        'currency': company.currency.id,
                        'invoice_address': customer.addresses[0].id,
                        'shipment_address': customer.addresses[0].id,
                        }])
            lines = SaleLine.create([{
                        'sale': sale.id, 'type': 'line', 'quantity': q,
                        'unit_price': Decimal(10), 'description': "Part",
                        } for q in [1, 2]])
            row, = Timeline.search([('document', '=', str(sale))])
            self.assertEqual(row.amount, Decimal(30))
            SaleLine.delete(lines[:1])
            row, = Timeline.search([('document', '=', str(sale))])
            self.assertEqual(row.amount, Decimal(20))

            # what the sources keep is what they would give from scratch
            maintained = self._timeline_rows()
            Timeline.rebuild()
            self.assertEqual(self._timeline_rows(), maintained)
            self.assertEqual(
                {r[3] for r in maintained},
                {'call', 'opportunity', 'sale', 'stage'})

    def _open_document(self, row):
        "Return (model, ids) of the window that opening row shows"
        pool = Pool()
        OpenDocument = pool.get(
            'crm.timeline.open_document', type='wizard')
        with Transaction().set_context(
                active_model='crm.timeline', active_id=row.id,
                active_ids=[row.id]):
            session_id, _, _ = OpenDocument.create()
            result = OpenDocument.execute(session_id, {}, 'open_')
            OpenDocument.delete(session_id)
        (action, _), = result['actions']
        return action['res_model'], action['res_id']

    def _setup_invoicing(self, company):
        "Create the chart, a fiscal year and a cash payment method"
        pool = Pool()
        Account = pool.get('account.account')
        FiscalYear = pool.get('account.fiscalyear')
        Journal = pool.get('account.journal')
        PaymentMethod = pool.get('account.invoice.payment.method')
        create_chart(company)
        fiscalyear = set_invoice_sequences(get_fiscalyear(company))
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])
        # any account that is not the receivable stands for the cash
        cash, = Account.search([
                ('type.expense', '=', True), ('closed', '!=', True)],
            limit=1)
        journal, = Journal.search([('type', '=', 'cash')], limit=1)
        method = PaymentMethod(
            name="Cash", company=company, journal=journal,
            credit_account=cash, debit_account=cash)
        method.save()
        return method

    def _post_invoice(self, company, party, amount):
        pool = Pool()
        Account = pool.get('account.account')
        Date = pool.get('ir.date')
        Invoice = pool.get('account.invoice')
        Journal = pool.get('account.journal')
        receivable, = Account.search([
                ('type.receivable', '=', True), ('closed', '!=', True)],
            limit=1)
        revenue, = Account.search([
                ('type.revenue', '=', True), ('closed', '!=', True)],
            limit=1)
        journal, = Journal.search([('type', '=', 'revenue')], limit=1)
        invoice, = Invoice.create([{
                    'company': company.id, 'type': 'out',
                    'party': party.id, 'account': receivable.id,
                    'journal': journal.id,
                    'invoice_address': party.addresses[0].id,
                    'currency': company.currency.id,
                    'invoice_date': Date.today(),
                    'lines': [('create', [{
                                    'account': revenue.id, 'quantity': 1,
                                    'unit_price': amount,
                                    'description': "Service",
                                    }])],
                    }])
        Invoice.post([invoice])
        return invoice

    @with_transaction()
    def test_timeline_emails_payments(self):
        "Sent e-mails and invoice payments are rows of the customer"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Email = pool.get('ir.email')
        Invoice = pool.get('account.invoice')
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            method = self._setup_invoicing(company)
            customer, other = self._create_customers(
                company, 2, documents=1)
            sale, = Sale.search([('party', '=', customer.id)])
            draft, = Sale.create([{
                        'company': company.id, 'party': customer.id,
                        'currency': company.currency.id,
                        'invoice_address': customer.addresses[0].id,
                        'shipment_address': customer.addresses[0].id,
                        }])
            emails = Email.create([{
                        'resource': str(record), 'subject': subject,
                        'recipients': 'buyer@example.com',
                        } for record, subject in [
                        (customer, "Welcome"), (sale, "Your quotation"),
                        (draft, "Draft"), (other, "Other")]])
            rows = Timeline.search([
                    ('party', '=', customer.id), ('kind', '=', 'email')],
                order=[('summary', 'ASC')])
            self.assertEqual(
                [(r.summary, r.document) for r in rows],
                [("Draft", emails[2]), ("Welcome", emails[0]),
                    ("Your quotation", emails[1])])
            self.assertEqual(
                {r.company for r in rows}, {None, company})

            invoice = self._post_invoice(company, customer, Decimal(100))
            invoice.pay_invoice(
                Decimal(40), method, Date.today(), "Part payment")
            invoice = Invoice(invoice.id)
            line, = invoice.payment_lines
            row, = Timeline.search([
                    ('party', '=', customer.id), ('kind', '=', 'payment')])
            # a row of the invoice: its move lines are accounting's
            self.assertEqual(
                (row.document, row.amount, row.currency, row.summary,
                    row.date.date()),
                (invoice, Decimal(40), company.currency, invoice.number,
                    Date.today()))
            self.assertEqual(row.document_name, invoice.rec_name)

            # they follow deletes
            Email.delete([emails[0]])
            Sale.delete([draft])
            self.assertEqual(
                [r.summary for r in Timeline.search([
                            ('party', '=', customer.id),
                            ('kind', '=', 'email')])],
                ["Your quotation"])
            Invoice.remove_payment_lines([line])
            self.assertEqual(Timeline.search([('kind', '=', 'payment')]), [])
            invoice.pay_invoice(Decimal(100), method, Date.today())

            maintained = self._timeline_rows()
            Timeline.rebuild()
            self.assertEqual(self._timeline_rows(), maintained)
            self.assertEqual(
                {r[3] for r in maintained},
                {'call', 'opportunity', 'sale', 'stage', 'email', 'invoice',
                    'payment'})

    @with_transaction()
    def test_timeline_open_document(self):
        "A timeline row opens its document and shows its name"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        Email = pool.get('ir.email')
        Opportunity = pool.get('sale.opportunity')
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            method = self._setup_invoicing(company)
            customer, = self._create_customers(company, 1, documents=1)
            email, = Email.create([{
                        'resource': str(customer), 'subject': "Hello",
                        }])
            invoice = self._post_invoice(company, customer, Decimal(10))
            invoice.pay_invoice(Decimal(10), method, Date.today())
            sale, = Sale.search([('party', '=', customer.id)])
            ahead, = Opportunity.create([{
                        'company': company.id, 'party': customer.id,
                        'currency': company.currency.id,
                        'description': "Next year",
                        'start_date': Date.today() + datetime.timedelta(
                            days=5),
                        }])
            sales, = self._department_users(company, 'group_crm_sales')
            rows = Timeline.search([('party', '=', customer.id)])
            with Transaction().set_user(sales.id), check_access():
                opened = {r.kind: self._open_document(r)
                    for r in Timeline.browse(rows)}
                names = {r.kind: r.document_name
                    for r in Timeline.browse(rows)}

            documents = {r.kind: r.document for r in rows}
            self.assertEqual(
                set(opened),
                {'call', 'opportunity', 'sale', 'stage', 'email', 'invoice',
                    'payment'})
            for kind, document in documents.items():
                self.assertEqual(
                    opened[kind], (document.__name__, [document.id]), kind)
            self.assertEqual(names['sale'], sale.rec_name)
            self.assertEqual(names['invoice'], invoice.rec_name)
            self.assertEqual(names['email'], "Hello")
            self.assertEqual(names['call'], "Call 0")

            # a document of today shows its time of creation, another day
            # noon
            sale_row, = [r for r in rows if r.kind == 'sale']
            # the column holds seconds: PostgreSQL rounds, SQLite cuts
            self.assertLessEqual(
                abs(sale_row.date - sale.create_date),
                datetime.timedelta(seconds=1))
            ahead_row, = Timeline.search(
                [('document', '=', str(ahead))])
            self.assertEqual(
                ahead_row.date, datetime.datetime.combine(
                    ahead.start_date, datetime.time(12)))

    @with_transaction()
    def test_log_activity(self):
        "Log Activity creates one activity of the party with its defaults"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Employee = pool.get('company.employee')
        User = pool.get('res.user')
        LogActivity = pool.get('crm.activity.log', type='wizard')
        company = create_company()
        with set_company(company):
            employee = create_employee(company, "Sam Sales")
            party, = Party.create([{
                        'name': "ACME",
                        'contact_mechanisms': [('create', [
                                    {'type': 'email', 'value': 'a@acme.test'},
                                    {'type': 'phone', 'value': '0511 1'},
                                    ])],
                        }])
            sales, = self._department_users(company, 'group_crm_sales')
            User.write([sales], {
                    'employees': [('add', [employee.id])],
                    'employee': employee.id,
                    })
            employee = Employee(employee.id)

        with Transaction().set_user(sales.id), \
                Transaction().set_context(User.get_preferences(
                    context_only=True)), check_access():
            self.assertEqual(
                Party.log_crm_activity([party]),
                pool.get('ir.model.data').get_id(
                    'crm_lifecycle', 'wizard_activity_log'))
            with Transaction().set_context(
                    active_model='party.party', active_id=party.id,
                    active_ids=[party.id]):
                session_id, _, _ = LogActivity.create()
                view = LogActivity.execute(session_id, {}, 'start')
                values = {k: v for k, v in view['view']['defaults'].items()
                    if '.' not in k}
                self.assertEqual(
                    (values['party'], values['contact'], values['employee'],
                        values['company'], values['activity_type']),
                    (party.id, party.contact_mechanisms[0].id, employee.id,
                        company.id, 'call'))
                values.update(subject="Called about the offer")
                LogActivity.execute(session_id, {'start': values}, 'log')
                LogActivity.delete(session_id)

        activity, = Activity.search([('party', '=', party.id)])
        self.assertEqual(
            (activity.subject, activity.contact, activity.employee,
                activity.state, activity.create_uid),
            ("Called about the offer", party.contact_mechanisms[0],
                employee, 'done', sales))

    @with_transaction()
    def test_timeline_page_plan(self):
        "A timeline page reads the stored rows by index, no source table"
        pool = Pool()
        Timeline = pool.get('crm.timeline')
        if backend.name != 'postgresql':
            self.skipTest("query plans are PostgreSQL's")
        company = create_company()
        with set_company(company):
            customer, = self._create_customers(company, 1, documents=30)
            cursor = Transaction().connection.cursor()
            names = ['date', 'kind', 'description', 'party.rec_name',
                'amount', 'state_string', 'document', 'employee.rec_name']
            for offset in [0, 40]:
                with count_queries(statements=True) as statements:
                    rows = Timeline.search(
                        [('party', '=', customer.id)], offset=offset,
                        limit=20)
                    Timeline.read([r.id for r in rows], names)
                self.assertEqual(len(rows), 20)
                # with sequential scans refused, only a table without a
                # usable index is still scanned in full
                cursor.execute('SET LOCAL enable_seqscan = off')
                sources = ['crm_activity', 'sale_sale', 'sale_opportunity',
                    'account_invoice', 'crm_lifecycle_history']
                scanned = set()
                for statement in statements:
                    if not statement[0].lstrip().upper().startswith(
                            'SELECT'):
                        continue
                    cursor.execute('EXPLAIN ' + statement[0], *statement[1:])
                    plan = '\n'.join(r for r, in cursor)
                    for table in ['crm_timeline'] + sources:
                        self.assertNotIn(
                            f'Seq Scan on {table}', plan, msg=plan)
                        if f' on {table} ' in plan:
                            scanned.add(table)
                cursor.execute('SET LOCAL enable_seqscan = on')
                self.assertIn('crm_timeline', scanned)
                # the documents are only checked to exist, by primary key

    @with_transaction()
    def test_customer_list_figures(self):
        "The customer list sorts and filters by its stored figures"
        pool = Pool()
        Party = pool.get('party.party')
        PartyFigures = pool.get('crm.party.figures')
        Activity = pool.get('crm.activity')
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            parties = self._create_customers(company, 3, documents=1)
            today = Date.today()
            # later than the contacts of _create_customers
            base = datetime.datetime.now().replace(microsecond=0)
            activities = Activity.create([{
                        'company': company.id, 'party': p.id,
                        'subject': "Visit",
                        'date': base + datetime.timedelta(hours=i),
                        } for i, p in enumerate(parties)])
            Activity.do(activities)
            # the last customer ordered, the first not this year
            sales = Sale.search([('party', 'in', parties)], order=[
                    ('party', 'ASC')])
            with Transaction().set_context(_crm_workflow=True):
                Sale.write(sales[2:], {
                        'state': 'confirmed', 'sale_date': today})
                Sale.write(sales[:1], {
                        'state': 'confirmed',
                        'sale_date': today.replace(year=today.year - 1)})
            ids = [p.id for p in parties]

            def search(domain, order):
                return Party.search(
                    [('id', 'in', ids)] + domain, order=order)
            self.assertEqual(
                search([], [('crm_last_contact', 'DESC')]), parties[::-1])
            self.assertEqual(
                search([], [('crm_orders_year_amount', 'DESC'),
                        ('id', 'ASC')]),
                [parties[2], parties[0], parties[1]])
            self.assertEqual(
                search([('crm_orders_year_amount', '>', 0)], []),
                [parties[2]])
            self.assertEqual(
                search([('crm_last_contact', '<',
                            base + datetime.timedelta(minutes=90))],
                    [('id', 'ASC')]),
                parties[:2])
            self.assertEqual(
                search([('crm_open_quotations', '=', 1)], [('id', 'ASC')]),
                parties[1:2])
            # the figures follow when a document moves to another party
            Activity.write(activities[2:], {'party': parties[0].id})
            first, second, third = [
                p.crm_last_contact for p in Party.browse(parties)]
            self.assertEqual(
                (first, second), (base + datetime.timedelta(hours=2),
                    base + datetime.timedelta(hours=1)))
            self.assertLess(third, base)
            self.assertEqual(
                Party(parties[2].id).crm_orders_year_amount, Decimal(100))

            def stored():
                return sorted(
                    tuple(getattr(f, c) for c in [
                            'party', 'company', 'last_contact',
                            'next_activity_date', 'open_opportunities',
                            'open_quotations', 'orders_year_amount'])
                    for f in PartyFigures.search([]))
            maintained = stored()
            PartyFigures.refresh(None)
            self.assertEqual(stored(), maintained)

    @with_transaction()
    def test_account_manager_per_company(self):
        "Each company has its own account manager of a customer"
        pool = Pool()
        Party = pool.get('party.party')
        Value = pool.get('party.party.crm_account_manager')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        first = create_company("First")
        second = create_company("Second", currency=first.currency)
        with set_company(second):
            bob = create_employee(second, "Bob")
        with set_company(first):
            anna = create_employee(first, "Anna")
            zoe = create_employee(first, "Zoe")
            parties = self._create_customers(first, 3, documents=1)
            customer, other, unmanaged = parties
            sales, service = [User(
                    login=login, name=login,
                    groups=[ModelData.get_id('crm_lifecycle', group)],
                    companies=[first, second], company=first,
                    employees=[anna], employee=anna)
                for login, group in [
                    ('sales', 'group_crm_sales'),
                    ('service', 'group_crm_service')]]
            User.save([sales, service])

            # the sales user sets it, the service user may not
            with Transaction().set_user(sales.id), check_access():
                Party.write([customer], {'crm_account_manager': anna.id})
                Party.write([other], {'crm_account_manager': zoe.id})
            with Transaction().set_user(service.id), check_access():
                with self.assertRaises(AccessError):
                    Party.write([unmanaged], {'crm_account_manager': zoe.id})

        with set_company(second):
            Party.write([customer], {'crm_account_manager': bob.id})
            self.assertEqual(Party(customer.id).crm_account_manager, bob)
            self.assertIsNone(Party(other.id).crm_account_manager)
            self.assertEqual(Party.search([
                        ('crm_account_manager', '=', bob.id)]), [customer])
            self.assertEqual(Party.search([
                        ('crm_account_manager', '=', anna.id)]), [])

        with set_company(first):
            self.assertEqual(
                [p.crm_account_manager for p in Party.browse(parties)],
                [anna, zoe, None])
            ids = [p.id for p in parties]

            def search(domain, order=None):
                return Party.search([('id', 'in', ids)] + domain,
                    order=order or [('id', 'ASC')])
            self.assertEqual(
                search([('crm_account_manager', '=', anna.id)]), [customer])
            self.assertEqual(
                search([('crm_account_manager', '=', None)]), [unmanaged])
            self.assertEqual(
                search([('crm_account_manager', '!=', None)]),
                [customer, other])
            self.assertEqual(
                search([('crm_account_manager', '!=', anna.id)]),
                [other, unmanaged])
            self.assertEqual(
                search([('crm_account_manager.rec_name', 'ilike', 'zo%')]),
                [other])
            # by name: Zoe after Anna
            managed = [('crm_account_manager', '!=', None)]
            self.assertEqual(
                search(managed, [('crm_account_manager', 'DESC')]),
                [other, customer])
            self.assertEqual(
                search(managed, [('crm_account_manager', 'ASC')]),
                [customer, other])
            self.assertEqual(Value.search([], count=True), 3)

            # the list reads the managers of a page in one query
            Party.read([unmanaged.id], ['crm_account_manager'])
            with count_queries() as one:
                Party.read([customer.id], ['crm_account_manager'])
            with count_queries() as three:
                Party.read(ids, ['crm_account_manager'])
            self.assertEqual(len(one), len(three), (one, three))

            # My Customers of the user's employee
            action = self._act_window('act_party_crm_mine')
            with Transaction().set_user(sales.id), check_access(), \
                    Transaction().set_context(
                        User.get_preferences(context_only=True)):
                domain = self._action_domain(action)
                order = PYSONDecoder().decode(action.pyson_order)
                self.assertEqual(
                    Party.search(domain, order=order), [customer])

            # an employee of another company is refused
            with self.assertRaises(UserError) as cm:
                Party.write([unmanaged], {'crm_account_manager': bob.id})
            self.assertIn("Account Manager", cm.exception.message)

    def _act_window(self, fs_id):
        pool = Pool()
        ActWindow = pool.get('ir.action.act_window')
        ModelData = pool.get('ir.model.data')
        return ActWindow(ModelData.get_id('crm_lifecycle', fs_id))

    def _action_domain(self, action, tab=None):
        "Return the domain of action (and its tab) as the client evaluates it"
        context = {'context': Transaction().context}
        context.update(Transaction().context)
        domain = PYSONDecoder(context).decode(action.pyson_domain)
        if tab is not None:
            domain = [domain, PYSONDecoder(context).decode(tab.domain)]
        return domain

    @with_transaction()
    def test_account_manager_followups(self):
        "The job follow-ups of a customer go to its account manager"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            anna = create_employee(company, "Anna")
            managed, unmanaged = Party.create([{
                        'name': name, 'addresses': [('create', [{}])],
                        } for name in ["Managed", "Unmanaged"]])
            Party.write([managed], {'crm_account_manager': anna.id})
            sales = Sale.create([{
                        'company': company.id, 'party': p.id,
                        'currency': company.currency.id,
                        'invoice_address': p.addresses[0].id,
                        'shipment_address': p.addresses[0].id,
                        'quotation_validity': datetime.timedelta(days=1),
                        'lines': [('create', [{
                                        'type': 'line', 'quantity': 1,
                                        'unit_price': Decimal(10),
                                        'description': "Service",
                                        }])],
                        } for p in [managed, unmanaged]])
            Sale.quote(sales)
            Sale.plan_quotation_followups()
            first, second = Sale.browse(sales)
            self.assertEqual(first.crm_quotation_followup.employee, anna)
            # else as before: the one who quoted (nobody here)
            self.assertIsNone(second.crm_quotation_followup.employee)

            # A dormant customer: a call for its account manager only
            Party._set_lifecycle_stage([managed, unmanaged], 'customer')
            table = Sale.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.sale_date], [datetime.date(2000, 1, 1)]))
            Party.mark_dormant()
            self.assertEqual(
                [p.lifecycle_stage for p in Party.browse(
                        [managed, unmanaged])], ['dormant', 'dormant'])
            call, = Activity.search([
                    ('party', '=', managed.id),
                    ('resource', '=', None),
                    ('state', '=', 'planned')])
            self.assertEqual(call.employee, anna)
            self.assertEqual(call.activity_type, 'call')
            self.assertEqual(call.subject, gettext(
                    'crm_lifecycle.msg_dormant_followup_subject',
                    party="Managed"))
            self.assertEqual(Activity.search([
                        ('party', '=', unmanaged.id),
                        ('resource', '=', None)], count=True), 0)

    @with_transaction()
    def test_crm_customers_not_internal(self):
        "The company's party and the employees are no CRM customers"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            employee = create_employee(company, "Anna")
            customer, = Party.create([{'name': "Customer"}])
            action = self._act_window('act_party_crm')
            found = Party.search(self._action_domain(action))
            self.assertIn(customer, found)
            self.assertNotIn(company.party, found)
            self.assertNotIn(employee.party, found)
            self.assertEqual(
                [p.crm_internal for p in Party.browse(
                        [customer, company.party, employee.party])],
                [False, True, True])
            self.assertEqual(Party.search([
                        ('crm_internal', '=', True)], order=[('id', 'ASC')]),
                sorted([company.party, employee.party], key=lambda p: p.id))
            # and on every tab
            for tab in action.act_window_domains:
                with self.subTest(tab=tab.name):
                    found = Party.search(self._action_domain(action, tab))
                    self.assertNotIn(employee.party, found)

    @with_transaction()
    def test_crm_customer_tabs_count(self):
        "Every tab of the CRM customers shows its count"
        action = self._act_window('act_party_crm')
        self.assertEqual(len(action.act_window_domains), 7)
        self.assertEqual(
            {t.name: t.count for t in action.act_window_domains},
            {t.name: True for t in action.act_window_domains})

    def _reporting_sale(self, company, party, state, sale_date=None):
        "Create a sale of 100 for party, quoted or ordered"
        pool = Pool()
        Sale = pool.get('sale.sale')
        address, = party.addresses or [None]
        sale, = Sale.create([{
                    'company': company.id, 'party': party.id,
                    'currency': company.currency.id,
                    'invoice_address': address and address.id,
                    'shipment_address': address and address.id,
                    'sale_date': sale_date,
                    'lines': [('create', [{
                                    'type': 'line', 'quantity': 1,
                                    'unit_price': Decimal(100),
                                    'description': "Service",
                                    }])],
                    }])
        Sale.quote([sale])
        if state == 'ordered':
            Sale.confirm([sale])
        return sale

    @with_transaction()
    def test_conversion_cohort(self):
        "Conversion counts the first contacts by the stage reached at least"
        pool = Pool()
        Party = pool.get('party.party')
        Campaign = pool.get('marketing.campaign')
        Opportunity = pool.get('sale.opportunity')
        Invoice = pool.get('account.invoice')
        Account = pool.get('account.account')
        Journal = pool.get('account.journal')
        Date = pool.get('ir.date')
        FunnelChannel = pool.get('crm.reporting.funnel.channel')
        FunnelEvent = pool.get('crm.reporting.funnel.event')
        company = create_company()
        with set_company(company):
            create_chart(company)
            create_employee(company, "Emil Employee")
            today = Date.today()
            fair = Campaign(name="Fair")
            fair.save()
            names = ['Alpha', 'Beta', 'Gamma', 'Delta', 'Old', 'Supplier',
                'Nobody']
            alpha, beta, gamma, delta, old, supplier, nobody = Party.create([{
                        'name': n, 'addresses': [('create', [{}])],
                        } for n in names])
            # Alpha jumps straight to an order, without opportunity
            self._reporting_sale(company, alpha, 'ordered',
                today - datetime.timedelta(days=10))
            Opportunity.create([{
                        'company': company.id, 'party': beta.id,
                        'currency': company.currency.id,
                        'description': "Deal", 'amount': Decimal(100),
                        }])
            self._reporting_sale(company, gamma, 'quoted')
            self._reporting_sale(company, delta, 'ordered',
                today - datetime.timedelta(days=10))
            self._reporting_sale(company, old, 'ordered')
            payable, = Account.search([
                    ('type.payable', '=', True), ('closed', '!=', True)],
                limit=1)
            journal, = Journal.search([('type', '=', 'expense')], limit=1)
            Invoice.create([{
                        'company': company.id, 'type': 'in',
                        'party': supplier.id, 'account': payable.id,
                        'journal': journal.id,
                        'invoice_address': supplier.addresses[0].id,
                        'currency': company.currency.id,
                        }])

            def days_ago(days):
                return today - datetime.timedelta(days=days)
            for party, first_contact, channel, event in [
                    (alpha, days_ago(30), 'trade_fair', fair),
                    (beta, days_ago(20), 'trade_fair', fair),
                    (gamma, days_ago(40), 'trade_fair', None),
                    (delta, days_ago(50), 'phone', None),
                    (old, days_ago(400), 'phone', None),
                    (supplier, today, None, None),
                    (nobody, None, 'phone', None),
                    ]:
                Party.write([party], {
                        'first_contact_date': first_contact,
                        'crm_channel': channel,
                        'crm_event': event.id if event else None,
                        })
            # the company's and the employee's parties have a first
            # contact date too
            self.assertEqual(Party.search_count([
                        ('first_contact_date', '!=', None),
                        ('first_contact_date', '>=', days_ago(60)),
                        ]), 7)

            def rows(Model, name):
                with Transaction().set_context(
                        from_date=days_ago(60), to_date=today):
                    return {getattr(r, name): (
                            r.contacts, r.leads, r.quoted, r.customers,
                            r.order_amount, r.win_rate, r.median_days)
                        for r in Model.search([])}
            self.assertEqual(rows(FunnelChannel, 'channel_name'), {
                    "Trade Fair": (
                        3, 3, 2, 1, Decimal(100), 0.3333, 20.0),
                    "Phone": (1, 1, 1, 1, Decimal(100), 1.0, 40.0),
                    })
            self.assertEqual(rows(FunnelEvent, 'event_name'), {
                    "Fair": (2, 2, 1, 1, Decimal(100), 0.5, 20.0),
                    "No Event": (2, 2, 2, 1, Decimal(100), 0.5, 40.0),
                    })
            with Transaction().set_context(
                    from_date=days_ago(60), to_date=today):
                row, = FunnelChannel.search([('crm_channel', '=', 'phone')])
                self.assertEqual(row.channel_name, "Phone")
                row, = FunnelEvent.search([('crm_event', '=', fair.id)])
                self.assertEqual(row.event_name, "Fair")

    @with_transaction()
    def test_forecast_sums(self):
        "The forecast weights open opportunities by month and employee"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Forecast = pool.get('crm.reporting.forecast')
        Date = pool.get('ir.date')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            dollar = create_currency('USX')
            add_currency_rate(dollar, Decimal(2))
            first = create_employee(company, "First")
            second = create_employee(company, "Second")
            party, = Party.create([{'name': "Customer"}])
            month1 = Date.today().replace(day=1) + relativedelta(months=1)
            month2 = month1 + relativedelta(months=1)
            month3 = month2 + relativedelta(months=1)
            opportunities = Opportunity.create([{
                        'company': company.id, 'party': party.id,
                        'currency': (currency or company.currency).id,
                        'description': "Deal", 'amount': Decimal(amount),
                        'conversion_probability': probability,
                        'employee': employee.id,
                        'end_date': end_date,
                        } for employee, amount, probability, end_date, currency
                    in [
                        (first, 1000, 0.5, month1 + relativedelta(days=4),
                            None),
                        (first, 2000, 0.25, month1, None),
                        (second, 1000, 0.8, month1 + relativedelta(days=27),
                            None),
                        (second, 4000, 0.1, month2 + relativedelta(days=9),
                            None),
                        # 500 in the company's currency
                        (second, 1000, 0.5, month2, dollar),
                        # after the months asked for
                        (second, 9000, 0.5, month3, None),
                        # closed
                        (first, 3000, 0.5, month1, None),
                        ]])
            Opportunity.cancel(opportunities[-1:])

            user = User(login='crm', name="CRM",
                groups=[ModelData.get_id('crm_lifecycle', 'group_crm')],
                companies=[company], company=company)
            user.save()
            with Transaction().set_user(user.id), check_access(), \
                    Transaction().set_context(
                        company=company.id,
                        from_month=month1, to_month=month2):
                rows = Forecast.search([])
                self.assertEqual([(
                            r.month, r.employee.id, r.opportunities,
                            r.amount, r.weighted_amount) for r in rows], [
                        (month1, first.id, 2, Decimal('3000.00'),
                            Decimal('1000.00')),
                        (month1, second.id, 1, Decimal('1000.00'),
                            Decimal('800.00')),
                        (month2, second.id, 2, Decimal('4500.00'),
                            Decimal('650.00')),
                        ])
                by_month, by_employee = defaultdict(Decimal), defaultdict(
                    Decimal)
                for row in rows:
                    # the language's format keeps the month and the year
                    # together with a no-break space
                    by_month[row.month_name.replace('\xa0', ' ')] += (
                        row.weighted_amount)
                    by_employee[row.employee_name] += row.weighted_amount
                self.assertEqual(dict(by_month), {
                        month1.strftime('%B %Y'): Decimal('1800.00'),
                        month2.strftime('%B %Y'): Decimal('650.00'),
                        })
                self.assertEqual(dict(by_employee), {
                        "First": Decimal('1000.00'),
                        "Second": Decimal('1450.00'),
                        })
                self.assertEqual(
                    {r.currency for r in rows}, {company.currency})


    @with_transaction()
    def test_stage_only_forward(self):
        "Stages move forward and lost parties come back on new business"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        LostReason = pool.get('crm.lost_reason')
        company = create_company()
        with set_company(company):
            party, = self._create_customers(company, 1, documents=1)
            self.assertEqual(party.lifecycle_stage, 'quoted')
            reason, = LostReason.search([], limit=1)
            opportunity, = Opportunity.search([('party', '=', party.id)])
            opportunity.crm_lost_reason = reason
            opportunity.save()
            Opportunity.lost([opportunity])
            Party.update_lifecycle_stage([party])
            self.assertEqual(Party(party.id).lifecycle_stage, 'quoted')

            new, = Party.create([{'name': "New"}])
            lost, = Opportunity.create([{
                        'company': company.id, 'party': new.id,
                        'currency': company.currency.id,
                        'crm_lost_reason': reason.id}])
            Opportunity.lost([lost])
            Party.update_lifecycle_stage([new])
            self.assertEqual(Party(new.id).lifecycle_stage, 'lost')
            Opportunity.create([{
                        'company': company.id, 'party': new.id,
                        'currency': company.currency.id}])
            self.assertEqual(Party(new.id).lifecycle_stage, 'lead')

    @with_transaction()
    def test_lost_reason_switch(self):
        "The lost reason is asked by the client, enforced only when chosen"
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "Prospect"}])
            first, second = Opportunity.create([{
                        'company': company.id, 'party': party.id,
                        'currency': company.currency.id,
                        } for _ in range(2)])

            # As in standard Tryton, the API may mark it lost without one
            Opportunity.lost([first])
            self.assertEqual(first.state, 'lost')

            configuration = Configuration(1)
            configuration.lost_reason_enforced = True
            configuration.save()
            with self.assertRaisesRegex(
                    UserError, 'you must choose a lost reason'):
                Opportunity.lost([second])
            self.assertEqual(Opportunity(second.id).state, 'lead')

            # The client checks the reason before it calls the button
            arch = Opportunity.fields_view_get(view_type='form')['arch']
            button, = etree.fromstring(arch).xpath('//button[@name="lost"]')
            states = json.loads(button.get('states'))
            self.assertIn('crm_lost_reason', str(states['pre_validate']))

    @with_transaction()
    def test_my_calendar(self):
        "My Calendar opens the calendar of the user's own activities"
        pool = Pool()
        ActWindow = pool.get('ir.action.act_window')
        Menu = pool.get('ir.ui.menu')
        ModelData = pool.get('ir.model.data')
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            mine = create_employee(company, "Sabine")
            other = create_employee(company, "Otto")
            party, = Party.create([{'name': "ACME"}])
            Activity.create([{
                        'company': company.id, 'party': party.id,
                        'subject': subject, 'employee': employee.id,
                        } for subject, employee in [
                        ("Visit", mine), ("Call", other)]])
            sales, = self._department_users(company, 'group_crm_sales')
            sales.employees = [mine]
            sales.employee = mine
            sales.save()
            action = ActWindow(ModelData.get_id(
                    'crm_lifecycle', 'act_activity_calendar'))
            with Transaction().set_user(sales.id), check_access():
                # the menu entry is visible to sales and opens the action
                menu, = Menu.search([
                        ('id', '=', ModelData.get_id(
                                'crm_lifecycle', 'menu_activity_calendar')),
                        ])
                self.assertEqual(menu.parent.name, "CRM")
                self.assertEqual(menu.action.id, action.action.id)
                self.assertEqual(
                    [v.view.type for v in action.act_window_views],
                    ['calendar', 'form', 'tree'])
                domain = PYSONDecoder({
                        'context': sales.get_preferences(
                            context_only=True),
                        }).decode(action.pyson_domain)
                self.assertEqual(
                    [a.subject for a in Activity.search(domain)],
                    ["Visit"])

    @with_transaction()
    def test_queue_dormancy(self):
        "The dormancy job enqueues the customers and marks them once"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.lifecycle.history')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            quiet, other, active = customers = Party.create([
                    {'name': name} for name in ["Quiet", "Other", "Active"]])
            contact, = Party.create([{'name': "Contact"}])
            Party._set_lifecycle_stage(customers, 'customer')

            with queue_worker():
                Party.mark_dormant()
            tasks = self.tasks('mark_parties_dormant')
            self.assertTasks(
                tasks, 'party.party', 'mark_parties_dormant', customers)
            self.assertEqual(
                {p.lifecycle_stage for p in Party.browse(customers)},
                {'customer'})

            # Between the cron and the worker, a call with Active
            activity, = Activity.create([{
                        'company': company.id, 'party': active.id,
                        'subject': "Call"}])
            Activity.do([activity])

            self.run_tasks(tasks)
            self.assertEqual(
                [p.lifecycle_stage for p in Party.browse(
                        [quiet, other, active, contact])],
                ['dormant', 'dormant', 'customer', 'contact'])

            # Once: the tasks again and the next cron change nothing
            self.run_tasks(tasks)
            with queue_worker():
                Party.mark_dormant()
            self.assertEqual(self.tasks('mark_parties_dormant'), [])
            self.assertEqual(History.search([
                        ('to_stage', '=', 'dormant'),
                        ], count=True), 2)

    @with_transaction()
    def test_queue_dormancy_batches(self):
        "The customers are enqueued in batches"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            parties = Party.create([
                    {'name': f"Customer {i}"} for i in range(1001)])
            Party._set_lifecycle_stage(parties, 'customer')
            with queue_worker():
                Party.mark_dormant()
            tasks = self.tasks('mark_parties_dormant')
            self.assertEqual(
                [len(t.data['instances']) for t in tasks], [500, 500, 1])
            self.run_tasks(tasks)
            self.assertEqual(
                {p.lifecycle_stage for p in Party.browse(parties)},
                {'dormant'})

    @with_transaction()
    def test_queue_quotation_followups(self):
        "The follow-up job enqueues the quotations and plans each once"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            party, = Party.create([{
                        'name': "ACME", 'addresses': [('create', [{}])]}])
            due, later, cancelled = sales = Sale.create([{
                        'company': company.id, 'party': party.id,
                        'currency': company.currency.id,
                        'invoice_address': party.addresses[0].id,
                        'shipment_address': party.addresses[0].id,
                        'quotation_validity': datetime.timedelta(days=days),
                        'lines': [('create', [{
                                        'type': 'line', 'quantity': 1,
                                        'unit_price': Decimal(10),
                                        'description': "Service",
                                        }])],
                        } for days in [1, 30, 2]])
            Sale.quote(sales)

            with queue_worker():
                Sale.plan_quotation_followups()
            tasks = self.tasks('plan_quotation_followup')
            self.assertTasks(
                tasks, 'sale.sale', 'plan_quotation_followup',
                [due, cancelled])
            self.assertEqual(
                [s.crm_quotation_followup for s in Sale.browse(sales)],
                [None, None, None])

            # Between the cron and the worker, one quotation is cancelled
            Sale.draft([cancelled])
            Sale.cancel([cancelled])

            self.run_tasks(tasks)
            due, later, cancelled = Sale.browse(sales)
            self.assertTrue(due.crm_quotation_followup)
            self.assertEqual(due.crm_quotation_followup.state, 'planned')
            self.assertIsNone(later.crm_quotation_followup)
            self.assertIsNone(cancelled.crm_quotation_followup)

            self.run_tasks(tasks)
            with queue_worker():
                Sale.plan_quotation_followups()
            self.assertEqual(self.tasks('plan_quotation_followup'), [])
            self.assertEqual(Activity.search([
                        ('resource', '=', str(due)),
                        ], count=True), 1)

    @with_transaction()
    def test_queue_recompute_all(self):
        "The whole-database recompute goes through the queue"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            lead, contact = Party.create([
                    {'name': "Lead"}, {'name': "Contact"}])
            Opportunity.create([{
                        'company': company.id, 'party': lead.id,
                        'currency': company.currency.id}])
            # A stage the documents do not give
            Party._set_lifecycle_stage([lead], 'quoted')
            with queue_worker():
                Party.recompute_all_lifecycle_stages()
            tasks = self.tasks('recompute_lifecycle_stage')
            self.assertTasks(
                tasks, 'party.party', 'recompute_lifecycle_stage',
                Party.search([]))
            self.run_tasks(tasks)
            self.assertEqual(
                [p.lifecycle_stage for p in Party.browse([lead, contact])],
                ['lead', 'contact'])

    def _create_quotations(self, company, party, validities, quote=True,
            **values):
        "Create one sale per validity in days (None: without validity)"
        Sale = Pool().get('sale.sale')
        sales = Sale.create([{
                    'company': company.id, 'party': party.id,
                    'currency': company.currency.id,
                    'invoice_address': party.addresses[0].id,
                    'shipment_address': party.addresses[0].id,
                    'quotation_validity': (
                        datetime.timedelta(days=days)
                        if days is not None else None),
                    'lines': [('create', [{
                                    'type': 'line', 'quantity': 1,
                                    'unit_price': Decimal(10),
                                    'description': "Service",
                                    }])],
                    **values,
                    } for days in validities])
        if quote:
            Sale.quote(sales)
        return Sale.browse(sales)

    @with_transaction()
    def test_quotation_expire_stored(self):
        "The stored expiry follows the quotation date and the validity"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            party, = Party.create([{
                        'name': "ACME", 'addresses': [('create', [{}])]}])
            today = Date.today()
            draft, quoted, endless = self._create_quotations(
                company, party, [10, 10, None], quote=False)
            self.assertEqual(
                [s.crm_quotation_expire for s in [draft, quoted, endless]],
                [None, None, None])
            Sale.quote([quoted, endless])
            quoted, endless = Sale.browse([quoted, endless])
            self.assertEqual(
                quoted.crm_quotation_expire,
                today + datetime.timedelta(days=10))
            self.assertEqual(
                quoted.crm_quotation_expire, quoted.quotation_expire)
            self.assertIsNone(endless.crm_quotation_expire)

            Sale.write([draft], {
                    'quotation_date': datetime.date(2026, 1, 10),
                    'quotation_validity': datetime.timedelta(days=5),
                    })
            self.assertEqual(
                Sale(draft.id).crm_quotation_expire,
                datetime.date(2026, 1, 15))
            Sale.write([draft], {'quotation_validity': None})
            self.assertIsNone(Sale(draft.id).crm_quotation_expire)
            copy, = Sale.copy([quoted])
            self.assertIsNone(copy.crm_quotation_expire)

            # The activation fills the column of the sales before it
            table = Sale.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.crm_quotation_expire], [None]))
            Sale._fill_quotation_expire()
            self.assertEqual(
                Sale(quoted.id).crm_quotation_expire,
                today + datetime.timedelta(days=10))
            self.assertIsNone(Sale(endless.id).crm_quotation_expire)

    @with_transaction()
    def test_quotation_followup_candidates(self):
        "The follow-up job reads the due quotations only, by their expiry"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        company = create_company()
        with set_company(company):
            party, = Party.create([{
                        'name': "ACME", 'addresses': [('create', [{}])]}])
            due, = self._create_quotations(company, party, [2])
            followed, = self._create_quotations(company, party, [1])
            Sale.plan_quotation_followup([followed])
            self.assertTrue(Sale(followed.id).crm_quotation_followup)
            due_sales = Sale._quotation_followups_due

            def plan(others):
                "Run the job after adding others of each kind not due"
                self._create_quotations(company, party, [30] * others)
                self._create_quotations(company, party, [None] * others)
                self._create_quotations(
                    company, party, [1] * others, quote=False)
                self._create_quotations(
                    company, party, [5] * others,
                    quotation_date=datetime.date(2020, 1, 1))
                read = []

                def spy(sales):
                    sales = list(sales)
                    read.extend(sales)
                    return due_sales(sales)
                with patch.object(
                        Sale, '_quotation_followups_due', side_effect=spy), \
                        queue_worker(), count_queries() as queries:
                    Sale.plan_quotation_followups()
                return read, len(queries)

            plan(1)  # warm the caches
            read_few, few = plan(2)
            read_many, many = plan(40)
            self.assertEqual(read_few, [due])
            self.assertEqual(read_many, [due])
            self.assertEqual(many, few)
            self.assertTasks(
                self.tasks('plan_quotation_followup'),
                'sale.sale', 'plan_quotation_followup', [due, due, due])

            # An index finds them
            accesses = table_accesses(Sale._quotation_followup_query())
            self.assertEqual(accesses['sale_sale'], {'lookup'})

    @with_transaction()
    def test_quotation_followup_company_day(self):
        "The follow-up is due by the day of the quotation's company"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Date = pool.get('ir.date')
        early = create_company(name="Early")
        late = create_company(name="Late")
        day = datetime.date(2026, 3, 10)
        # the late company's day has already begun
        days = {early.id: day, late.id: day + datetime.timedelta(days=1)}

        def today():
            return days.get(Transaction().context.get('company'), day)

        sales = []
        for company in [early, late]:
            with set_company(company):
                party, = Party.create([{
                            'name': "ACME",
                            'addresses': [('create', [{}])]}])
                sales.extend(self._create_quotations(
                        company, party, [1], quotation_date=day
                        - datetime.timedelta(days=1)))
        with patch.object(Date, 'today', side_effect=today):
            Sale.plan_quotation_followups()
        expires_today, expired = Sale.browse(sales)
        self.assertEqual(expires_today.crm_quotation_expire, day)
        self.assertEqual(expired.crm_quotation_expire, day)
        self.assertTrue(expires_today.crm_quotation_followup)
        self.assertEqual(
            expires_today.crm_quotation_followup.date.date(), day)
        self.assertIsNone(expired.crm_quotation_followup)

    @with_transaction()
    def test_dormancy_candidates(self):
        "The dormancy job looks up the recent documents of customers only"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Configuration = pool.get('crm.configuration')
        Date = pool.get('ir.date')
        company = create_company()
        with set_company(company):
            today = Date.today()
            days = Configuration(1).dormant_days
            long_ago = today - datetime.timedelta(days=days + 10)
            recently = today - datetime.timedelta(days=10)
            names = ["Quiet", "Ordered", "Quoted", "Called"]
            customers = quiet, ordered, quoted, called = Party.create([{
                        'name': name, 'addresses': [('create', [{}])],
                        } for name in names])
            self._create_quotations(
                company, quiet, [None], sale_date=long_ago)
            self._create_quotations(
                company, ordered, [None], sale_date=recently)
            # a quotation without sale date counts by its quotation date
            self._create_quotations(
                company, quoted, [None], quotation_date=recently)
            activity, = Activity.create([{
                        'company': company.id, 'party': called.id,
                        'subject': "Call",
                        'date': datetime.datetime.combine(
                            recently, datetime.time(9)),
                        }])
            Activity.do([activity])
            Party._set_lifecycle_stage(customers, 'customer')

            def mark(others):
                "Run the job after adding others contacts with quotations"
                for party in Party.create([{
                                'name': f"Contact {i}",
                                'addresses': [('create', [{}])],
                                } for i in range(others)]):
                    self._create_quotations(
                        company, party, [None], sale_date=long_ago)
                with queue_worker(), count_queries() as queries:
                    Party.mark_dormant()
                return len(queries)

            mark(1)  # warm the caches
            self.assertEqual(mark(20), mark(2))
            tasks = self.tasks('mark_parties_dormant')
            self.assertEqual(
                {i for t in tasks for i in t.data['instances']}, {quiet.id})
            self.run_tasks(tasks)
            self.assertEqual(
                [p.lifecycle_stage for p in Party.browse(customers)],
                ['dormant', 'customer', 'customer', 'customer'])

            # Index lookups per customer, no aggregate over the documents
            limit = Party._dormant_limit_date()
            accesses = table_accesses(Party._dormant_query(limit))
            for table in ['sale_sale', 'account_invoice', 'crm_activity']:
                with self.subTest(table=table):
                    self.assertEqual(accesses[table], {'lookup'})

    @with_transaction()
    def test_recompute_statements(self):
        "The recompute writes the parties with one statement per slice"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            few = self._create_customers(company, 5, documents=1)
            many = self._create_customers(company, 120, documents=1)
            Party._set_lifecycle_stage(few + many, 'lead')

            def updates(parties):
                with count_queries() as queries:
                    Party.recompute_lifecycle_stage(parties)
                return [q for q in queries
                    if str(q).lstrip().upper().startswith(
                        'UPDATE "PARTY_PARTY"')]
            # each party's values are parameters once, in one statement
            # as far as the backend takes parameters
            self.assertEqual(len(updates(few)), 1)
            self.assertEqual(
                len(updates(many)),
                -(-len(many) * 4 // backend.MAX_QUERY_PARAMS))
            self.assertEqual(
                {p.lifecycle_stage for p in Party.browse(few + many)},
                {'quoted'})

    @with_transaction()
    def test_recompute_writes_changes_only(self):
        "A recompute rewrites only the parties whose documents changed"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.lifecycle.history')
        Timeline = pool.get('crm.timeline')
        Sale = pool.get('sale.sale')
        company = create_company()
        with set_company(company):
            parties = self._create_customers(company, 6, documents=1)
            Party.recompute_lifecycle_stage(parties)
            history = {
                p.id: [(h.id, h.to_stage) for h in History.search(
                        [('party', '=', p.id)], order=[('id', 'ASC')])]
                for p in parties}

            def writes():
                with count_queries() as queries:
                    Party.recompute_lifecycle_stage(parties)
                return [str(q) for q in queries
                    if str(q).lstrip().upper().startswith(
                        ('UPDATE', 'INSERT', 'DELETE'))]
            # nothing changed: nothing written
            self.assertEqual(writes(), [])

            # one party's quotation becomes an order behind the suite's
            # back: only its history and timeline rows are rewritten
            changed = parties[2]
            sale, = Sale.search([('party', '=', changed.id)])
            table = Sale.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.state], ['confirmed'],
                    where=table.id == sale.id))
            statements = writes()
            self.assertTrue(statements)
            self.assertEqual(Party(changed.id).lifecycle_stage, 'customer')
            for party in parties:
                rows = [(h.id, h.to_stage) for h in History.search(
                        [('party', '=', party.id)], order=[('id', 'ASC')])]
                if party == changed:
                    self.assertNotEqual(rows, history[party.id])
                    self.assertEqual(
                        [s for _, s in rows][-1], 'customer')
                else:
                    self.assertEqual(rows, history[party.id])
            self.assertEqual(
                Timeline.search_count([
                        ('party', '=', changed.id),
                        ('document', 'like', 'crm.lifecycle.history,%'),
                        ]),
                len(History.search([('party', '=', changed.id)])))

    def _first_contact_parties(self, company):
        "Two organisations that a new contact may duplicate"
        pool = Pool()
        Party = pool.get('party.party')
        mueller, berlin = Party.create([{
                    'name': "Müller Maschinenbau GmbH",
                    'addresses': [('create', [{'city': "Hannover"}])],
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': "anna@mueller.example"}, {
                                    'type': 'phone',
                                    'value': "+49 511 123456"}])],
                    }, {
                    'name': "Mueller Maschinenbau AG",
                    'addresses': [('create', [{'city': "Berlin"}])],
                    }])
        return mueller, berlin

    def _first_contact(self, start, step='check', duplicates=None,
            session_id=None):
        "Run the New Contact wizard as the web client does"
        pool = Pool()
        FirstContact = pool.get('crm.first_contact', type='wizard')
        if session_id is None:
            session_id, _, _ = FirstContact.create()
        data = {'start': start}
        if duplicates is not None:
            data['duplicates'] = duplicates
        return session_id, FirstContact.execute(session_id, data, step)

    @with_transaction()
    def test_first_contact_candidates(self):
        "The possible duplicates show why they match"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            mueller, berlin = self._first_contact_parties(company)
            sales, = self._department_users(company, 'group_crm_sales')
            start = {
                'company': company.id, 'channel': 'phone',
                'organisation': "Mueller Maschinenbau",
                'email': "ANNA@mueller.example", 'phone': "0511 / 12 34 56",
                'city': "hannover"}
            with Transaction().set_user(sales.id), check_access():
                _, result = self._first_contact(start)
                view = result['view']
                self.assertEqual(view['state'], 'duplicates')
                defaults = view['defaults']
                rows = {c['party']: c for c in defaults['candidates']}
                self.assertEqual(
                    {p: (r['reasons'], r['city'], r['use'])
                        for p, r in rows.items()}, {
                        mueller.id: (
                            ('email', 'phone', 'name_city'), "Hannover",
                            False),
                        berlin.id: (('name',), "Berlin", False),
                        })
                self.assertEqual(
                    rows[mueller.id]['party.']['rec_name'],
                    "Müller Maschinenbau GmbH")
                self.assertEqual(
                    sorted(defaults['candidate_parties']),
                    sorted([mueller.id, berlin.id]))
                self.assertIsNone(defaults['party'])
                fields = view['fields_view']['fields']
                # a list to choose from, not to add to
                self.assertEqual(
                    fields['candidates']['relation'],
                    'crm.first_contact.candidate')
                arch = etree.fromstring(view['fields_view']['arch'])
                candidates, = arch.xpath('//field[@name="candidates"]')
                self.assertEqual(
                    (candidates.get('create'), candidates.get('delete')),
                    ('0', '0'))
                self.assertEqual(
                    [b['state'] for b in view['buttons']],
                    ['start', 'record_new', 'record'])
            self.assertEqual(Party.search_count([]), 3)  # with the company

    @with_transaction()
    def test_first_contact_choose_candidate(self):
        "Ticking a possible duplicate records the contact on it"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        Mechanism = pool.get('party.contact_mechanism')
        company = create_company()
        with set_company(company):
            mueller, berlin = self._first_contact_parties(company)
            sales, = self._department_users(company, 'group_crm_sales')
            parties = Party.search_count([])
            start = {
                'company': company.id, 'channel': 'trade_fair',
                'organisation': "Müller Maschinenbau", 'person': "Jan Roth",
                'email': "jan@mueller.example"}
            with Transaction().set_user(sales.id), check_access():
                session_id, result = self._first_contact(start)
                candidates = result['view']['defaults']['candidates']
                # the web client sends the rows back with the tick
                for i, candidate in enumerate(candidates):
                    # without the rec_name, as the web client
                    del candidate['party.']
                    candidate['id'] = -i - 2
                    candidate['use'] = candidate['party'] == mueller.id
                _, result = self._first_contact(
                    start, 'record', session_id=session_id, duplicates={
                        'company': company.id, 'candidates': candidates,
                        'party': None})
            self.assertEqual(result['actions'][0][0]['res_id'], [mueller.id])
            self.assertEqual(Party.search_count([]), parties)
            activity, = Activity.search([('party', '=', mueller.id)])
            self.assertEqual(
                (activity.activity_type, activity.state,
                    activity.contact.value, activity.contact.name),
                ('meeting', 'done', "jan@mueller.example", "Jan Roth"))
            self.assertEqual(
                Mechanism.search_count([('party', '=', berlin.id)]), 0)

            # choosing through the field does the same
            with Transaction().set_user(sales.id), check_access():
                session_id, result = self._first_contact(start)
                candidates = result['view']['defaults']['candidates']
                for candidate in candidates:
                    del candidate['party.']
                self._first_contact(
                    start, 'record', session_id=session_id, duplicates={
                        'company': company.id, 'candidates': candidates,
                        'party': berlin.id})
            self.assertEqual(Party.search_count([]), parties)
            self.assertEqual(
                Activity.search_count([('party', '=', berlin.id)]), 1)

    @with_transaction()
    def test_first_contact_choose_one(self):
        "One organisation must be chosen, or a new one asked for"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            mueller, berlin = self._first_contact_parties(company)
            sales, = self._department_users(company, 'group_crm_sales')
            parties = Party.search_count([])
            start = {
                'company': company.id, 'channel': 'shop',
                'organisation': "Mueller Maschinenbau", 'city': "Bremen"}
            with Transaction().set_user(sales.id), check_access():
                session_id, result = self._first_contact(start)
                candidates = result['view']['defaults']['candidates']
                self.assertEqual(
                    [c['reasons'] for c in candidates],
                    [('name',), ('name',)])
                for candidate in candidates:
                    del candidate['party.']
                    candidate['use'] = True
                duplicates = {
                    'company': company.id, 'candidates': candidates,
                    'party': None}
                with self.assertRaises(UserError) as cm:
                    self._first_contact(
                        start, 'record', duplicates, session_id)
                self.assertEqual(cm.exception.message, gettext(
                        'crm_lifecycle.msg_first_contact_choose_one',
                        parties=", ".join(
                            Party(c['party']).rec_name
                            for c in candidates)))
                for candidate in candidates:
                    candidate['use'] = False
                with self.assertRaises(UserError) as cm:
                    self._first_contact(
                        start, 'record', duplicates, session_id)
                self.assertEqual(cm.exception.message, gettext(
                        'crm_lifecycle.msg_first_contact_choose'))
                self.assertEqual(Party.search_count([]), parties)

                _, result = self._first_contact(
                    start, 'record_new', duplicates, session_id)
            new, = Party.search([('name', '=', "Mueller Maschinenbau")])
            self.assertEqual(result['actions'][0][0]['res_id'], [new.id])
            self.assertEqual([a.city for a in new.addresses], ["Bremen"])
            self.assertEqual(
                Activity.search_count([('party', '=', new.id)]), 1)

    @with_transaction()
    def test_first_contact_use_one(self):
        "Ticking a row unticks the others and fills the chosen field"
        pool = Pool()
        Duplicates = pool.get('crm.first_contact.duplicates')
        Candidate = pool.get('crm.first_contact.candidate')
        company = create_company()
        with set_company(company):
            mueller, berlin = self._first_contact_parties(company)
            duplicates = Duplicates(candidates=[
                    Candidate(party=mueller, use=True),
                    Candidate(party=berlin, use=False)], party=None)
            duplicates.on_change_candidates()
            self.assertEqual(duplicates.party, mueller)
            duplicates.candidates[1].use = True
            duplicates.on_change_candidates()
            self.assertEqual(duplicates.party, berlin)
            self.assertEqual(
                [c.use for c in duplicates.candidates], [False, True])
            duplicates.party = mueller
            duplicates.on_change_party()
            self.assertEqual(
                [c.use for c in duplicates.candidates], [True, False])
            duplicates.candidates[0].use = False
            duplicates.on_change_candidates()
            self.assertIsNone(duplicates.party)

    @with_transaction()
    def test_replace_moves_crm_records(self):
        "Merging a duplicate moves its CRM records to the kept party"
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('crm.activity')
        History = pool.get('crm.lifecycle.history')
        Timeline = pool.get('crm.timeline')
        Opportunity = pool.get('sale.opportunity')
        Replace = pool.get('party.replace', type='wizard')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        with set_company(company):
            kept, duplicate = Party.create([
                    {'name': "Müller Maschinenbau GmbH",
                        'first_contact_date': datetime.date(2026, 3, 1)},
                    {'name': "Mueller Maschinenbau",
                        'first_contact_date': datetime.date(2026, 2, 1),
                        'crm_channel': 'trade_fair'}])
            Activity.do(Activity.create([{
                        'company': company.id, 'party': p.id,
                        'subject': f"Call {p.name}"}
                    for p in [kept, duplicate]]))
            Opportunity.create([{
                        'company': company.id, 'party': duplicate.id,
                        'currency': company.currency.id,
                        'description': "Presses",
                        'amount': Decimal(5000)}])
            Party.update_lifecycle_stage([kept, duplicate])
            self.assertEqual(
                [Party(kept.id).lifecycle_stage,
                    Party(duplicate.id).lifecycle_stage],
                ['contact', 'lead'])
            history = [h.id for h in History.search(
                        [('party', '=', duplicate.id)])]
            sales, crm = self._department_users(
                company, 'group_crm_sales', 'group_crm')
            action_id = ModelData.get_id('crm_lifecycle', 'wizard_party_merge')
            context = {
                'active_model': 'party.party', 'active_id': duplicate.id,
                'active_ids': [duplicate.id, kept.id],
                'action_id': action_id}

            # upstream's Replace is for party administrators
            with Transaction().set_user(crm.id), check_access(), \
                    Transaction().set_context(context):
                with self.assertRaises(AccessError):
                    Replace.create()
            with Transaction().set_user(sales.id), check_access(), \
                    Transaction().set_context(context, _skip_warnings=True):
                session_id, _, _ = Replace.create()
                result = Replace.execute(session_id, {}, 'ask')
                defaults = result['view']['defaults']
                # the two selected parties
                self.assertEqual(
                    (defaults['source'], defaults['destination']),
                    (duplicate.id, kept.id))
                Replace.execute(session_id, {'ask': {
                            'source': duplicate.id,
                            'destination': kept.id}}, 'replace')

            kept, duplicate = Party.browse([kept.id, duplicate.id])
            self.assertEqual(duplicate.replaced_by, kept)
            self.assertEqual(
                Activity.search_count([('party', '=', kept.id)]), 2)
            self.assertEqual(
                Opportunity.search_count([('party', '=', kept.id)]), 1)
            self.assertEqual(
                History.search_count([
                        ('id', 'in', history), ('party', '=', kept.id)]),
                len(history))
            self.assertEqual(
                Timeline.search_count([('party', '=', duplicate.id)]), 0)
            self.assertEqual(
                Timeline.search_count([
                        ('party', '=', kept.id),
                        ('document', 'like', 'sale.opportunity,%')]), 1)
            self.assertEqual(
                (kept.lifecycle_stage, kept.first_contact_date,
                    kept.crm_channel),
                ('lead', datetime.date(2026, 2, 1), 'trade_fair'))
            with Transaction().set_context(company=company.id):
                kept = Party(kept.id)
                self.assertEqual(
                    (kept.crm_open_opportunities,
                        kept.crm_open_opportunity_amount),
                    (1, Decimal(5000)))


del ModuleTestCase
