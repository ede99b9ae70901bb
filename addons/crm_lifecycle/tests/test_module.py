# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.modules.party.tests import PartyCheckReplaceMixin
from trytond.tests.test_tryton import ModuleTestCase


class CrmLifecycleTestCase(
        PartyCheckReplaceMixin, CompanyTestMixin, ModuleTestCase):
    "Test CRM Lifecycle module"
    module = 'crm_lifecycle'

    @property
    def _skip_company_rule(self):
        # Stage changes belong to the party, not to a company: the timeline
        # rule also lets rows without company through.
        return super()._skip_company_rule | {('crm.timeline', 'company')}


del ModuleTestCase
