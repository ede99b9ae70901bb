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
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

from trytond.modules.crm_lifecycle.party import FIGURES
from trytond.modules.crm_lifecycle.tests.tools import (
    WebClientViewMixin,
    count_queries,
)
from trytond.modules.crm_projects.exceptions import (
    MilestoneWorkflowError,
    TimesheetValidationError,
)


class CrmProjectsTestCase(
        WebClientViewMixin, CompanyTestMixin, ModuleTestCase):
    "Test CRM Projects module"
    module = 'crm_projects'

    @property
    def _skip_company_rule(self):
        return super()._skip_company_rule | {
            # Stage changes belong to the party, not to a company
            ('crm.timeline', 'company'),
            }

    def _create_project(self, company):
        pool = Pool()
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        party = Party(name="Customer")
        party.save()
        project = Work(
            name="Project", type='project', company=company, party=party)
        project.save()
        return project

    def _create_milestone(self, project, state):
        pool = Pool()
        Milestone = pool.get('project.milestone')
        milestone = Milestone(
            project=project, company=project.company, name="Milestone",
            amount_type='fixed', fixed_amount=Decimal(100), state=state)
        milestone.save()
        return milestone

    @with_transaction()
    def test_milestone_invoice_twice(self):
        "Test invoicing a milestone twice is refused"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            project = self._create_project(company)
            for state in ['invoiced', 'paid']:
                milestone = self._create_milestone(project, state)
                with self.assertRaisesRegex(
                        MilestoneWorkflowError, "already invoiced"):
                    Milestone.create_invoice([milestone])
                self.assertEqual(milestone.state, state)
                self.assertIsNone(milestone.invoice)

    @with_transaction()
    def test_milestone_invoice_not_accepted(self):
        "Test invoicing a milestone not accepted is refused"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            project = self._create_project(company)
            for state in ['planned', 'reached', 'cancelled']:
                milestone = self._create_milestone(project, state)
                with self.assertRaisesRegex(
                        MilestoneWorkflowError, "must accept it first"):
                    Milestone.create_invoice([milestone])

    @with_transaction()
    def test_milestone_cancel_twice(self):
        "Test cancelling a milestone twice is refused"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            project = self._create_project(company)
            milestone = self._create_milestone(project, 'planned')
            Milestone.cancel([milestone])
            self.assertEqual(milestone.state, 'cancelled')
            with self.assertRaisesRegex(
                    MilestoneWorkflowError, "already cancelled"):
                Milestone.cancel([milestone])

    @with_transaction()
    def test_milestone_rounding_last(self):
        "Test the last milestone takes the rounding difference"
        pool = Pool()
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            project = self._create_project(company)
            milestones = [
                self._create_milestone(project, 'planned')
                for _ in range(3)]
            Milestone.write(milestones, {
                    'amount_type': 'percentage',
                    'percentage': Decimal('0.3333'),
                    })
            Milestone.write(milestones[-1:], {
                    'percentage': Decimal('0.3334'),
                    })
            original = Milestone._order_amount
            try:
                Milestone._order_amount = staticmethod(
                    lambda project: Decimal('100.01'))
                amounts = [m.amount for m in Milestone.browse(milestones)]
            finally:
                Milestone._order_amount = original
            self.assertEqual(sum(amounts), Decimal('100.01'))
            self.assertEqual(amounts, [
                    Decimal('33.33'), Decimal('33.33'), Decimal('33.35')])

    @with_transaction()
    def test_timesheet_duration(self):
        "Test negative and too long durations are refused"
        pool = Pool()
        Line = pool.get('timesheet.line')
        for hours, text in [(-1, "negative"), (25, "more than 24")]:
            with self.assertRaisesRegex(TimesheetValidationError, text):
                Line.preprocess_values('create', {
                        'duration': datetime.timedelta(hours=hours),
                        })
        values = Line.preprocess_values('create', {
                'duration': datetime.timedelta(hours=24),
                })
        self.assertEqual(values['duration'], datetime.timedelta(hours=24))

    @with_transaction()
    def test_party_figures(self):
        "Test project figures of parties"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            party = Party(name="Nobody")
            party.save()
            project = self._create_project(company)
            self._create_milestone(project, 'invoiced')
            milestone = self._create_milestone(project, 'planned')
            milestone.planned_date = datetime.date(2030, 1, 1)
            milestone.save()
            names = [
                'crm_active_projects', 'crm_hours_30_days',
                'crm_milestones_unpaid', 'crm_next_milestone_date']
            figures = Party.get_crm_figures([party, project.party], names)
            self.assertEqual(figures['crm_active_projects'][party.id], 0)
            self.assertEqual(figures['crm_hours_30_days'][party.id], 0)
            self.assertEqual(figures['crm_milestones_unpaid'][party.id], 0)
            self.assertIsNone(figures['crm_next_milestone_date'][party.id])
            customer = project.party.id
            self.assertEqual(figures['crm_active_projects'][customer], 1)
            self.assertEqual(figures['crm_milestones_unpaid'][customer], 1)
            self.assertEqual(
                figures['crm_next_milestone_date'][customer],
                datetime.date(2030, 1, 1))

    @with_transaction()
    def test_figures_query_count(self):
        "The customer view with projects costs the same for 1 or 80 parties"
        pool = Pool()
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        TimesheetWork = pool.get('timesheet.work')
        TimesheetLine = pool.get('timesheet.line')
        Employee = pool.get('company.employee')
        company = create_company()
        with set_company(company):
            employee_party = Party(name="Employee")
            employee_party.save()
            employee = Employee(party=employee_party, company=company)
            employee.save()
            projects = []
            for _ in range(81):
                project = self._create_project(company)
                self._create_milestone(project, 'invoiced')
                task = Work(
                    name="Task", type='task', company=company,
                    parent=project,
                    effort_duration=datetime.timedelta(hours=10))
                task.save()
                twork = TimesheetWork(origin=task, company=company)
                twork.save()
                TimesheetLine(
                    company=company, employee=employee, work=twork,
                    duration=datetime.timedelta(hours=2)).save()
                projects.append(project)
            parties = [p.party.id for p in projects]
            party_names = FIGURES + [
                'crm_active_projects', 'crm_hours_30_days',
                'crm_milestones_unpaid', 'crm_next_milestone_date']
            work_names = [
                'sold_hours', 'billable_hours', 'non_billable_hours',
                'invoiced_hours', 'remaining_hours', 'hours_used']
            Party.read(parties[-1:], party_names)
            Work.read([projects[-1].id], work_names)

            with count_queries() as one:
                values, = Party.read(parties[:1], party_names)
            with count_queries() as eighty:
                Party.read(parties[1:], party_names)
            self.assertEqual(len(one), len(eighty))
            self.assertEqual(values['crm_active_projects'], 1)
            self.assertEqual(values['crm_hours_30_days'], 2)
            self.assertEqual(values['crm_milestones_unpaid'], 1)

            with count_queries() as one:
                values, = Work.read([projects[0].id], work_names)
            with count_queries() as eighty:
                Work.read([p.id for p in projects[1:]], work_names)
            self.assertLessEqual(len(eighty), len(one))
            self.assertEqual(values['sold_hours'], 10)
            self.assertEqual(values['billable_hours'], 2)
            self.assertEqual(values['remaining_hours'], 8)
            self.assertEqual(values['hours_used'], 0.2)


del ModuleTestCase
