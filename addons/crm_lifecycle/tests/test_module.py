# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from decimal import Decimal

from trytond.modules.company.tests import (
    CompanyTestMixin,
    create_company,
    set_company,
)
from trytond.modules.party.tests import PartyCheckReplaceMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from trytond.modules.crm_lifecycle.contact import (
    normalize_name,
    normalize_phone,
)
from trytond.modules.crm_lifecycle.party import FIGURES

from .tools import WebClientViewMixin, count_queries


class CrmLifecycleTestCase(
        WebClientViewMixin, PartyCheckReplaceMixin, CompanyTestMixin,
        ModuleTestCase):
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
        parties = Party.create([{'name': f"Customer {i}"}
                for i in range(count)])
        now = datetime.datetime.now()
        Activity.create([{
                    'company': company.id, 'party': p.id,
                    'subject': f"Call {n}",
                    'date': now + datetime.timedelta(days=n - 1),
                    'state': 'planned' if n else 'done',
                    } for p in parties for n in range(documents)])
        Opportunity.create([{
                    'company': company.id, 'party': p.id,
                    'currency': company.currency.id,
                    'description': f"Deal {n}", 'amount': Decimal(100),
                    } for p in parties for n in range(documents)])
        sales = Sale.create([{
                    'company': company.id, 'party': p.id,
                    'currency': company.currency.id,
                    } for p in parties for n in range(documents)])
        SaleLine.create([{
                    'sale': s.id, 'type': 'line', 'quantity': 2,
                    'unit_price': Decimal(50), 'description': "Service",
                    } for s in sales])
        Sale.write(sales, {'state': 'quotation'})
        Party.update_lifecycle_stage(Party.browse(parties))
        return Party.browse(parties)

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

    @with_transaction()
    def test_stage_only_forward(self):
        "Stages move forward and lost parties come back on new business"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            party, = self._create_customers(company, 1, documents=1)
            self.assertEqual(party.lifecycle_stage, 'quoted')
            opportunity, = Opportunity.search([('party', '=', party.id)])
            Opportunity.write([opportunity], {'state': 'lost'})
            Party.update_lifecycle_stage([party])
            self.assertEqual(Party(party.id).lifecycle_stage, 'quoted')

            new, = Party.create([{'name': "New"}])
            lost, = Opportunity.create([{
                        'company': company.id, 'party': new.id,
                        'currency': company.currency.id, 'state': 'lost'}])
            Party.update_lifecycle_stage([new])
            self.assertEqual(Party(new.id).lifecycle_stage, 'lost')
            Opportunity.create([{
                        'company': company.id, 'party': new.id,
                        'currency': company.currency.id}])
            self.assertEqual(Party(new.id).lifecycle_stage, 'lead')


del ModuleTestCase
