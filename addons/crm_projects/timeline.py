# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import Literal, Null
from sql.conditionals import Coalesce
from trytond import backend
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.timeline import TimelineSourceMixin

PROJECT_DOCUMENTS = [
    'project.milestone', 'project.protocol', 'project.agreement']


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('milestone', "Milestone"),
            ('protocol', "Protocol"),
            ('agreement', "Agreement"),
            ]

    @classmethod
    def _get_documents(cls):
        return super()._get_documents() + PROJECT_DOCUMENTS

    @classmethod
    def _state_models(cls):
        return {
            **super()._state_models(),
            'milestone': ('project.milestone', 'state'),
            'protocol': ('project.protocol', 'state'),
            }

    @classmethod
    def _module_sources(cls, module):
        sources = super()._module_sources(module)
        if module == 'crm_projects':
            sources = sources + PROJECT_DOCUMENTS
        return sources

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Work = pool.get('project.work')
        Milestone = pool.get('project.milestone')
        Protocol = pool.get('project.protocol')
        Agreement = pool.get('project.agreement')
        Company = pool.get('company.company')
        Sale = pool.get('sale.sale')
        company = Company.__table__()
        sale = Sale.__table__()
        milestone = Milestone.__table__()
        protocol = Protocol.__table__()
        project = Work.__table__()
        project2 = Work.__table__()
        agreement = Agreement.__table__()
        project3 = Work.__table__()
        return super()._timeline_sources() + [
            ('project.milestone', milestone, cls._columns(
                    milestone, 'project.milestone',
                    party=project.party,
                    date=Coalesce(
                        milestone.accepted_date, milestone.reached_date),
                    kind=Literal('milestone'), summary=milestone.name,
                    amount=milestone.invoiced_amount,
                    # A milestone of an order is in the order's currency
                    currency=Coalesce(sale.currency, company.currency),
                    state=milestone.state,
                    employee=project.project_manager,
                    company=milestone.company),
                milestone.join(project,
                    condition=milestone.project == project.id
                    ).join(company,
                    condition=milestone.company == company.id
                    ).join(sale, 'LEFT',
                    condition=project.sale == sale.id),
                milestone.state.in_(
                    ['reached', 'accepted', 'invoiced', 'paid'])
                & (project.party != Null)),
            ('project.protocol', protocol, cls._columns(
                    protocol, 'project.protocol',
                    party=project2.party, date=protocol.date,
                    kind=Literal('protocol'), summary=protocol.title,
                    state=protocol.state,
                    employee=project2.project_manager,
                    company=protocol.company),
                protocol.join(project2,
                    condition=protocol.project == project2.id),
                project2.party != Null),
            ('project.agreement', agreement, cls._columns(
                    agreement, 'project.agreement',
                    party=project3.party, date=agreement.date,
                    kind=Literal('agreement'), summary=agreement.name,
                    employee=project3.project_manager,
                    company=agreement.company),
                agreement.join(project3,
                    condition=agreement.project == project3.id),
                project3.party != Null),
            ]


class Milestone(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'project.milestone'
    _crm_timeline_fields = {
        'project', 'accepted_date', 'reached_date', 'name',
        'invoiced_amount', 'state', 'company'}


class Protocol(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'project.protocol'
    _crm_timeline_fields = {
        'project', 'date', 'title', 'state', 'company'}


class Agreement(TimelineSourceMixin, metaclass=PoolMeta):
    __name__ = 'project.agreement'
    _crm_timeline_fields = {'project', 'date', 'name', 'company'}


class Work(metaclass=PoolMeta):
    __name__ = 'project.work'

    @classmethod
    def on_modification(cls, mode, works, field_names=None):
        super().on_modification(mode, works, field_names=field_names)
        # the project's rows show its party and its manager
        if mode == 'write' and (field_names is None or field_names & {
                    'party', 'project_manager', 'sale'}):
            pool = Pool()
            Timeline = pool.get('crm.timeline')
            cursor = Transaction().connection.cursor()
            work_ids = [w.id for w in works]
            for model in PROJECT_DOCUMENTS:
                table = pool.get(model).__table__()
                ids = []
                for sub_ids in grouped_slice(
                        work_ids, backend.MAX_QUERY_PARAMS):
                    cursor.execute(*table.select(table.id,
                            where=reduce_ids(table.project, list(sub_ids))))
                    ids.extend(i for i, in cursor)
                Timeline.refresh(model, ids)
