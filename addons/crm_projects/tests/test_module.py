# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime
from decimal import Decimal

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
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction, check_access

from trytond.modules.crm_lifecycle.exceptions import WorkflowFieldError
from trytond.modules.crm_lifecycle.party import FIGURES
from trytond.modules.crm_lifecycle.tests.tools import (
    QueueTestMixin,
    WebClientViewMixin,
    count_queries,
    queue_worker,
)
from trytond.modules.crm_projects.exceptions import (
    MilestoneDeleteError,
    MilestoneLockedError,
    MilestoneWorkflowError,
    ProtocolLockedError,
    TimesheetLockedError,
    TimesheetValidationError,
)


class CrmProjectsTestCase(
        QueueTestMixin, WebClientViewMixin, CompanyTestMixin,
        ModuleTestCase):
    "Test CRM Projects module"
    module = 'crm_projects'

    @property
    def _skip_company_rule(self):
        return super()._skip_company_rule | {
            # Stage changes belong to the party, not to a company
            ('crm.timeline', 'company'),
            }

    def _setup_accounting(self, company):
        "Create the chart, a fiscal year and the default revenue account"
        pool = Pool()
        Account = pool.get('account.account')
        AccountConfiguration = pool.get('account.configuration')
        FiscalYear = pool.get('account.fiscalyear')
        create_chart(company)
        fiscalyear = set_invoice_sequences(get_fiscalyear(company))
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])
        revenue, = Account.search([
                ('type.revenue', '=', True),
                ('closed', '!=', True),
                ('company', '=', company.id),
                ], limit=1)
        config = AccountConfiguration(1)
        config.default_category_account_revenue = revenue
        config.save()
        return revenue

    def _create_project(self, company):
        pool = Pool()
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        party = Party(name="Customer")
        party.contact_mechanisms = [{'type': 'email', 'value': 'b@e.com'}]
        party.addresses = [{}]
        party.save()
        project = Work(
            name="Project", type='project', company=company, party=party)
        project.save()
        return project

    def _create_milestone(self, project, state):
        "Create a milestone and move it to state with the buttons"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Milestone = pool.get('project.milestone')
        milestone = Milestone(
            project=project, company=project.company, name="Milestone",
            amount_type='fixed', fixed_amount=Decimal(100))
        milestone.save()
        if state == 'cancelled':
            Milestone.cancel([milestone])
        path = ['reached', 'accepted', 'invoiced', 'paid']
        if state in path:
            Milestone.reach([milestone])
        if state in path[1:]:
            milestone.accepted_by, = project.party.contact_mechanisms
            milestone.save()
            Milestone.accept([milestone])
        if state in path[2:]:
            Milestone.create_invoice([milestone])
        if state == 'paid':
            Invoice.post([milestone.invoice])
            Invoice.paid([milestone.invoice])
        milestone = Milestone(milestone.id)
        self.assertEqual(milestone.state, state)
        return milestone

    def _create_user(self, company, login, group):
        "Create a user of the company in the group with an employee"
        pool = Pool()
        Employee = pool.get('company.employee')
        ModelData = pool.get('ir.model.data')
        Party = pool.get('party.party')
        User = pool.get('res.user')
        party = Party(name=login)
        party.save()
        employee = Employee(party=party, company=company)
        employee.save()
        user = User(
            login=login, name=login,
            groups=[ModelData.get_id('crm_lifecycle', group)],
            companies=[company], company=company,
            employees=[employee], employee=employee)
        user.save()
        return user

    def _create_invoiced_time(self, project, employee, revenue):
        "Log billable time on a task of project and invoice it"
        pool = Pool()
        Category = pool.get('product.category')
        ModelData = pool.get('ir.model.data')
        Template = pool.get('product.template')
        TimesheetLine = pool.get('timesheet.line')
        Uom = pool.get('product.uom')
        Work = pool.get('project.work')
        category = Category(
            name="Services", accounting=True, account_revenue=revenue)
        category.save()
        template = Template(
            name="Consulting", type='service', list_price=Decimal(50),
            default_uom=Uom(ModelData.get_id('product', 'uom_hour')),
            account_category=category, products=[{}])
        template.save()
        product, = template.products
        project.project_invoice_method = 'timesheet'
        project.save()
        task = Work(
            name="Task", type='task', company=project.company,
            parent=project, product=product, list_price=Decimal(50),
            timesheet_available=True)
        task.save()
        twork, = task.timesheet_works
        lines = TimesheetLine.create([{
                    'company': project.company.id,
                    'employee': employee.id,
                    'work': twork.id,
                    'duration': datetime.timedelta(hours=h),
                    } for h in [2, 3]])
        Work.invoice([project])
        return lines

    @with_transaction()
    def test_milestone_invoice_twice(self):
        "Test invoicing a milestone twice is refused"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            self._setup_accounting(company)
            project = self._create_project(company)
            for state in ['invoiced', 'paid']:
                milestone = self._create_milestone(project, state)
                invoice = milestone.invoice
                count = Invoice.search([], count=True)
                with self.assertRaisesRegex(
                        MilestoneWorkflowError, "already invoiced"):
                    Milestone.create_invoice([milestone])
                milestone = Milestone(milestone.id)
                self.assertEqual(milestone.state, state)
                self.assertEqual(milestone.invoice, invoice)
                self.assertEqual(Invoice.search([], count=True), count)

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
    def test_milestone_path(self):
        "Test a milestone moves through the buttons and invoices once"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Milestone = pool.get('project.milestone')
        company = create_company()
        with set_company(company):
            self._setup_accounting(company)
            project = self._create_project(company)
            contact, = project.party.contact_mechanisms
            user = self._create_user(
                company, 'projects', 'group_crm_projects')
            with Transaction().set_user(user.id), check_access():
                milestone, = Milestone.create([{
                            'project': project.id,
                            'name': "Design",
                            'amount_type': 'fixed',
                            'fixed_amount': Decimal(100),
                            }])
                self.assertEqual(milestone.state, 'planned')
                Milestone.reach([milestone])
                self.assertEqual(milestone.state, 'reached')
                Milestone.write([milestone], {'accepted_by': contact.id})
                Milestone.accept([milestone])
                self.assertEqual(milestone.state, 'accepted')
                Milestone.create_invoice([milestone])
                milestone = Milestone(milestone.id)
                self.assertEqual(milestone.state, 'invoiced')
                invoice = milestone.invoice
                self.assertEqual(milestone.invoiced_amount, Decimal(100))
                self.assertEqual(milestone.invoice_line.invoice, invoice)
                # The client is refused by the state of the button
                for button in [Milestone.create_invoice, Milestone.accept]:
                    with self.assertRaisesRegex(
                            AccessButtonError, "You can not call"):
                        button([milestone])
            # The server code by the milestone's own check
            with self.assertRaisesRegex(
                    MilestoneWorkflowError, "again: it is already invoiced"):
                Milestone.create_invoice([milestone])
            # accept again does not re-open an invoiced milestone
            with self.assertRaisesRegex(
                    MilestoneWorkflowError, "again: it is already invoiced"):
                Milestone.accept([milestone])
            self.assertEqual(Invoice.search([], count=True), 1)
            self.assertEqual(Milestone(milestone.id).state, 'invoiced')

            # The accountant cancels the invoice: accepted again, unlinked
            Invoice.cancel([invoice])
            milestone = Milestone(milestone.id)
            self.assertEqual(milestone.state, 'accepted')
            self.assertIsNone(milestone.invoice)
            self.assertIsNone(milestone.invoiced_amount)

            # Invoiced again and paid
            Milestone.create_invoice([milestone])
            milestone = Milestone(milestone.id)
            self.assertNotEqual(milestone.invoice, invoice)
            Invoice.post([milestone.invoice])
            Invoice.paid([milestone.invoice])
            self.assertEqual(Milestone(milestone.id).state, 'paid')
            self.assertEqual(Invoice.search([], count=True), 2)

    def _assert_refused(self, exception, message, func, *args):
        "Assert func(*args) raises exception with (one of) message"
        messages = [message] if isinstance(message, str) else message
        with self.assertRaises(exception) as cm:
            func(*args)
        self.assertTrue(
            any(m in cm.exception.message for m in messages),
            cm.exception.message)

    @with_transaction()
    def test_forged_fields(self):
        "Test clients cannot set workflow fields of projects"
        pool = Pool()
        ActionItem = pool.get('project.protocol.action_item')
        Invoice = pool.get('account.invoice')
        Milestone = pool.get('project.milestone')
        Protocol = pool.get('project.protocol')
        Sale = pool.get('sale.sale')
        TimesheetLine = pool.get('timesheet.line')
        Work = pool.get('project.work')
        company = create_company()
        with set_company(company):
            revenue = self._setup_accounting(company)
            project = self._create_project(company)
            contact, = project.party.contact_mechanisms
            planned = self._create_milestone(project, 'planned')
            invoiced = self._create_milestone(project, 'invoiced')
            invoice = invoiced.invoice
            protocol = Protocol(project=project, title="Kick-off")
            protocol.save()
            acknowledged = Protocol(
                project=project, title="Review", acknowledged_by=contact)
            acknowledged.save()
            Protocol.acknowledge([acknowledged])
            projects_user = self._create_user(
                company, 'projects', 'group_crm_projects')
            sales_user = self._create_user(
                company, 'sales', 'group_crm_sales')
            activity_item = ActionItem(
                protocol=protocol, description="Item",
                owner=projects_user.employee)
            activity_item.save()
            invoiced_line, _ = self._create_invoiced_time(
                project, projects_user.employee, revenue)
            time_invoice_line = invoiced_line.invoice_line
            self.assertTrue(time_invoice_line)
            # A line of another project, own line of the sales user
            other = self._create_project(company)
            other_task = Work(
                name="Other", type='task', company=company, parent=other,
                timesheet_available=True)
            other_task.save()
            other_twork, = other_task.timesheet_works
            open_line = TimesheetLine(
                company=company, employee=sales_user.employee,
                work=other_twork, duration=datetime.timedelta(hours=1))
            open_line.save()
            sale = Sale(party=project.party, company=company)
            sale.save()

            def snapshot():
                return (
                    [(m.state, m.invoice, m.invoiced_amount, m.name,
                            m.fixed_amount, m.accepted_by)
                        for m in Milestone.search([])],
                    [(p.state, p.title, p.acknowledged_by)
                        for p in Protocol.search([])],
                    [(i.activity, i.done) for i in ActionItem.search([])],
                    [(t.invoice_line, t.duration, t.work, t.date, t.billable)
                        for t in TimesheetLine.search([])],
                    [(w.sale, w.budget_alerts, w.invoice_line)
                        for w in Work.search([])],
                    Invoice.search([], count=True))
            before = snapshot()
            workflow = "yourself: its workflow buttons and jobs set it"
            locked = "because it is no longer planned or reached"
            milestone_values = {
                'project': project.id, 'name': "Forged",
                'amount_type': 'fixed', 'fixed_amount': Decimal(1)}
            forged_milestone = [
                {'state': 'accepted'}, {'state': 'paid'},
                {'invoice': invoice.id},
                {'invoice_line': invoice.lines[0].id},
                {'invoiced_amount': Decimal(1)}]

            with Transaction().set_user(projects_user.id), check_access():
                for values in forged_milestone:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Milestone.create, [{**milestone_values, **values}])
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Milestone.write, [planned], values)
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Milestone.copy, [invoiced], values)
                for values in [
                        {'state': 'accepted'}, {'invoice': None},
                        {'invoice_line': None}, {'invoiced_amount': None}]:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Milestone.write, [invoiced], values)
                for values in [
                        {'name': "Renamed"}, {'fixed_amount': Decimal(1)},
                        {'amount_type': 'percentage'},
                        {'percentage': Decimal('0.5')},
                        {'project': other.id},
                        {'accepted_by': None},
                        {'accepted_date': datetime.date(2000, 1, 1)},
                        {'acceptance_note': "Forged"},
                        {'reached_date': datetime.date(2000, 1, 1)}]:
                    self._assert_refused(
                        MilestoneLockedError, locked,
                        Milestone.write, [invoiced], values)
                self._assert_refused(
                    MilestoneDeleteError, "because it is invoiced",
                    Milestone.delete, [invoiced])
                # A copy starts over
                copy, = Milestone.copy([invoiced])
                self.assertEqual(
                    (copy.state, copy.invoice, copy.invoiced_amount,
                        copy.accepted_by),
                    ('planned', None, None, None))
                Milestone.delete([copy])

                for values in [
                        {'state': 'acknowledged'}]:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Protocol.create, [{
                                'project': project.id, 'title': "F",
                                **values}])
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Protocol.write, [protocol], values)
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Protocol.copy, [protocol], values)
                self._assert_refused(
                    WorkflowFieldError, workflow,
                    Protocol.write, [acknowledged], {'state': 'draft'})
                for values in [
                        {'acknowledged_by': None},
                        {'acknowledged_date': datetime.date(2000, 1, 1)},
                        {'title': "Forged"}, {'decisions': "Forged"}]:
                    self._assert_refused(
                        ProtocolLockedError, "the customer acknowledged it",
                        Protocol.write, [acknowledged], values)
                copy, = Protocol.copy([acknowledged])
                self.assertEqual(
                    (copy.state, copy.acknowledged_by), ('draft', None))
                Protocol.delete([copy])

                activity = activity_item.activity
                self.assertTrue(activity)
                self._assert_refused(
                    WorkflowFieldError, workflow,
                    ActionItem.write, [activity_item], {'activity': None})
                self._assert_refused(
                    WorkflowFieldError, workflow,
                    ActionItem.create, [{
                            'protocol': protocol.id, 'description': "F",
                            'activity': activity.id}])
                self._assert_refused(
                    WorkflowFieldError, workflow,
                    ActionItem.copy, [activity_item],
                    {'activity': activity.id})

                for values in [
                        {'invoice_line': None},
                        {'invoice_line': invoice.lines[0].id}]:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        TimesheetLine.write, [invoiced_line], values)
                for values in [
                        {'duration': datetime.timedelta(hours=1)},
                        {'work': other_twork.id},
                        {'date': datetime.date(2000, 1, 1)},
                        {'billable': False}]:
                    self._assert_refused(
                        TimesheetLockedError, "is invoiced: you can still",
                        TimesheetLine.write, [invoiced_line], values)
                # no stricter than project_invoice: the text may change
                TimesheetLine.write([invoiced_line], {'description': "Fixed"})
                self.assertEqual(invoiced_line.description, "Fixed")
                self._assert_refused(
                    TimesheetLockedError, "is invoiced: you can still",
                    TimesheetLine.delete, [invoiced_line])
                self._assert_refused(
                    WorkflowFieldError, workflow,
                    TimesheetLine.copy, [invoiced_line],
                    {'invoice_line': time_invoice_line.id})

                for values in [
                        {'sale': sale.id}, {'budget_alerts': ['80']},
                        {'invoice_line': invoice.lines[0].id}]:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Work.write, [other], values)
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        Work.create, [{
                                'name': "F", 'type': 'project',
                                'company': company.id, **values}])

            # Sales may not write milestones and protocols at all
            refused = ["You are not allowed to", workflow]
            with Transaction().set_user(sales_user.id), check_access():
                for values in forged_milestone:
                    self._assert_refused(
                        AccessError, refused,
                        Milestone.create, [{**milestone_values, **values}])
                    self._assert_refused(
                        AccessError, refused,
                        Milestone.write, [planned], values)
                    self._assert_refused(
                        AccessError, refused,
                        Milestone.copy, [invoiced], values)
                self._assert_refused(
                    AccessError, refused,
                    Milestone.delete, [invoiced])
                self._assert_refused(
                    AccessError, refused,
                    Protocol.write, [protocol], {'state': 'acknowledged'})
                for values in [
                        {'invoice_line': time_invoice_line.id}]:
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        TimesheetLine.write, [open_line], values)
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        TimesheetLine.create, [{
                                'company': company.id,
                                'employee': sales_user.employee.id,
                                'work': other_twork.id,
                                'duration': datetime.timedelta(hours=1),
                                **values}])
                    self._assert_refused(
                        WorkflowFieldError, workflow,
                        TimesheetLine.copy, [open_line], values)
                self._assert_refused(
                    AccessError, "",
                    TimesheetLine.write, [invoiced_line],
                    {'invoice_line': None})

            self.assertEqual(snapshot(), before)

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
        "Test negative durations are refused and long ones accepted"
        pool = Pool()
        Line = pool.get('timesheet.line')
        with self.assertRaisesRegex(TimesheetValidationError, "negative"):
            Line.preprocess_values('create', {
                    'duration': datetime.timedelta(hours=-1),
                    })
        for hours in [0, 24, 30]:
            values = Line.preprocess_values('create', {
                    'duration': datetime.timedelta(hours=hours),
                    })
            self.assertEqual(
                values['duration'], datetime.timedelta(hours=hours))

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
            self._setup_accounting(company)
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
            self._setup_accounting(company)
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
                'invoiced_hours', 'remaining_hours', 'hours_used',
                'sold_amount', 'time_cost', 'invoiced_sale_amount',
                'remaining_amount']
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

    @with_transaction()
    def test_queue_budget_alerts(self):
        "Logged time enqueues the project; each threshold is planned once"
        pool = Pool()
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        TimesheetLine = pool.get('timesheet.line')
        Activity = pool.get('crm.activity')
        company = create_company()
        with set_company(company):
            lead = create_employee(company, "Paula")
            party, = Party.create([{'name': "Customer"}])
            project = Work(
                name="Retrofit", type='project', company=company,
                party=party, project_manager=lead)
            project.save()
            task = Work(
                name="Wiring", type='task', company=company, parent=project,
                effort_duration=datetime.timedelta(hours=10),
                timesheet_available=True)
            task.save()
            twork, = task.timesheet_works

            def log(hours):
                with queue_worker():
                    TimesheetLine.create([{
                                'company': company.id,
                                'employee': lead.id,
                                'work': twork.id,
                                'duration': datetime.timedelta(hours=hours),
                                }])

            def alerts():
                return sorted(a.subject for a in Activity.search([
                            ('resource', '=', str(project)),
                            ]))

            log(8.5)
            tasks = self.tasks('check_budget_alerts')
            self.assertTasks(
                tasks, 'project.work', 'check_budget_alerts', [project])
            # The person logging time did not wait for the alert
            self.assertEqual(alerts(), [])

            self.run_tasks(tasks)
            self.assertEqual(
                alerts(), ["Project Retrofit has used 80 % of its sold hours"])
            # Once: the task again and the next line below 100 %
            self.run_tasks(tasks)
            log(0.5)
            self.run_tasks(self.tasks('check_budget_alerts'))
            self.assertEqual(len(alerts()), 1)

            log(1)
            self.run_tasks(self.tasks('check_budget_alerts'))
            self.assertEqual(alerts(), [
                    "Project Retrofit has used 100 % of its sold hours",
                    "Project Retrofit has used 80 % of its sold hours",
                    ])
            self.assertEqual(
                set(Work(project.id).budget_alerts), {'80', '100'})
            self.assertEqual(
                {a.employee for a in Activity.search([
                            ('resource', '=', str(project))])}, {lead})

    @with_transaction()
    def test_budget_amounts_origin(self):
        "The order is the project's origin; its budget in money"
        pool = Pool()
        Category = pool.get('product.category')
        CostPrice = pool.get('company.employee_cost_price')
        Invoice = pool.get('account.invoice')
        ModelData = pool.get('ir.model.data')
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Template = pool.get('product.template')
        TimesheetLine = pool.get('timesheet.line')
        Uom = pool.get('product.uom')
        Work = pool.get('project.work')
        company = create_company()
        with set_company(company):
            revenue = self._setup_accounting(company)
            employee = create_employee(company, "Paula")
            CostPrice(
                employee=employee, date=datetime.date(2000, 1, 1),
                cost_price=Decimal('30')).save()
            category = Category(
                name="Services", accounting=True, account_revenue=revenue)
            category.save()
            hour = Uom(ModelData.get_id('product', 'uom_hour'))
            products = []
            for name in ["Consulting", "Training"]:
                template = Template(
                    name=name, type='service', list_price=Decimal(50),
                    default_uom=hour, sale_uom=hour, salable=True,
                    project_service=True,
                    account_category=category, products=[{}])
                template.save()
                products.append(template.products[0])
            customer = Party(name="Customer", addresses=[{}])
            customer.save()
            sale = Sale(
                party=customer, company=company,
                project_invoice_method='timesheet',
                invoice_address=customer.addresses[0],
                shipment_address=customer.addresses[0])
            sale.lines = [{
                    'product': products[0].id, 'quantity': 10,
                    'unit': hour.id, 'unit_price': Decimal('80')}, {
                    'product': products[1].id, 'quantity': 4,
                    'unit': hour.id, 'unit_price': Decimal('100.50')}]
            sale.save()
            Sale.quote([sale])
            Sale.confirm([sale])

            project, = Work.search([('sale', '=', sale.id)])
            self.assertEqual(project.origin, sale)
            task1, task2 = sorted(
                project.children, key=lambda t: t.sale_line.unit_price)
            for task, hours in [(task1, 3), (task2, 1)]:
                TimesheetLine(
                    company=company, employee=employee,
                    work=task.timesheet_works[0],
                    duration=datetime.timedelta(hours=hours)).save()
            Work.invoice([project])
            invoice, = Invoice.search([])
            self.assertEqual(invoice.untaxed_amount, Decimal('340.50'))

            project = Work(project.id)
            self.assertEqual(project.sold_amount, Decimal('1202.00'))
            self.assertEqual(project.time_cost, Decimal('120.00'))
            self.assertEqual(
                project.invoiced_sale_amount, Decimal('340.50'))
            self.assertEqual(project.remaining_amount, Decimal('1082.00'))
            task2 = Work(task2.id)
            self.assertEqual(
                (task2.sold_amount, task2.time_cost,
                    task2.invoiced_sale_amount),
                (Decimal('402.00'), Decimal('30.00'), Decimal('100.50')))

            # A cancelled invoice is no longer invoiced
            Invoice.cancel([invoice])
            self.assertEqual(
                Work(project.id).invoiced_sale_amount, Decimal('0.00'))

            # The origin is the order's own: clients cannot set it
            with check_access(), self.assertRaises(WorkflowFieldError):
                Work.write([project], {'origin': None})
            self.assertIsNone(Work.copy([project])[0].origin)

    @with_transaction()
    def test_figures_nested_task_hours(self):
        "The hours of a party count the tasks at any depth of its projects"
        pool = Pool()
        Party = pool.get('party.party')
        Work = pool.get('project.work')
        TimesheetLine = pool.get('timesheet.line')
        company = create_company()
        with set_company(company):
            employee = create_employee(company, "Paula")
            project = self._create_project(company)
            customer = project.party
            other, = Party.create([{'name': "Subcontracted"}])
            works = [project]
            # a task, its subtask and the subtask's subtask
            for level in range(1, 4):
                work = Work(
                    name=f"Level {level}", type='task', company=company,
                    parent=works[-1], timesheet_available=True)
                work.save()
                works.append(work)
            # a sub-project of another party below the task, and its task
            sub_project = Work(
                name="Sub-project", type='project', company=company,
                party=other, parent=works[1], timesheet_available=True)
            sub_project.save()
            sub_task = Work(
                name="Sub-task", type='task', company=company,
                parent=sub_project, timesheet_available=True)
            sub_task.save()
            project.timesheet_available = True
            project.save()
            hours = [
                (project, 1), (works[1], 2), (works[2], 4), (works[3], 8),
                (sub_project, 16), (sub_task, 32)]
            TimesheetLine.create([{
                        'company': company.id, 'employee': employee.id,
                        'work': work.timesheet_works[0].id,
                        'duration': datetime.timedelta(hours=h),
                        } for work, h in hours])

            figures = Party.get_crm_figures(
                [customer, other], ['crm_hours_30_days'])
            self.assertEqual(figures['crm_hours_30_days'], {
                    customer.id: 1 + 2 + 4 + 8,
                    other.id: 16 + 32,
                    })
            # The budget of the project counts them too
            self.assertEqual(
                Work(project.id).billable_hours, 1 + 2 + 4 + 8 + 16 + 32)

    @with_transaction()
    def test_action_item_companies(self):
        "Action items follow the company rule of their protocol"
        pool = Pool()
        ActionItem = pool.get('project.protocol.action_item')
        Protocol = pool.get('project.protocol')
        company_a = create_company("Company A")
        company_b = create_company("Company B", currency=company_a.currency)
        items, users = {}, {}
        for key, company in [('a', company_a), ('b', company_b)]:
            with set_company(company):
                project = self._create_project(company)
                protocol = Protocol(project=project, title="Kick-off")
                protocol.save()
                items[key], = ActionItem.create([{
                            'protocol': protocol.id,
                            'description': f"Item {key}"}])
                users[key] = self._create_user(
                    company, f'projects_{key}', 'group_crm_projects')
        item_a, item_b = items['a'], items['b']

        with Transaction().set_user(users['a'].id), \
                Transaction().set_context(company=company_a.id), \
                check_access():
            self.assertEqual(ActionItem.search([]), [item_a])

        user_b = users['b']
        with Transaction().set_user(user_b.id), \
                Transaction().set_context(company=company_b.id), \
                check_access():
            self.assertEqual(ActionItem.search([]), [item_b])
            self.assertEqual(
                ActionItem.search([('description', 'like', 'Item%')],
                    count=True), 1)
            self.assertEqual(
                [r['description'] for r in ActionItem.read(
                        [item_b.id], ['description'])],
                ["Item b"])
            for function, args in [
                    (ActionItem.read, ([item_a.id], ['description'])),
                    (ActionItem.write, ([item_a], {'done': True})),
                    (ActionItem.delete, ([item_a],)),
                    (ActionItem.create, ([{
                                    'protocol': item_a.protocol.id,
                                    'description': "Forged"}],)),
                    ]:
                with self.subTest(function=function.__name__):
                    with self.assertRaises(AccessError):
                        function(*args)
            ActionItem.write([item_b], {'done': True})
        # Nothing of company A changed (a refused create is checked after
        # the insert and rolled back with the call's transaction)
        self.assertEqual(
            (ActionItem(item_a.id).done, ActionItem(item_b.id).done),
            (False, True))


del ModuleTestCase
