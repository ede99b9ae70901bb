# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from sql import Literal, Null
from sql.conditionals import Coalesce
from trytond.pool import Pool, PoolMeta


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
        return super()._get_documents() + [
            'project.milestone', 'project.protocol', 'project.agreement']

    @classmethod
    def _state_models(cls):
        return {
            **super()._state_models(),
            'milestone': ('project.milestone', 'state'),
            'protocol': ('project.protocol', 'state'),
            }

    @classmethod
    def _timeline_queries(cls):
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
        return super()._timeline_queries() + [
            milestone.join(project,
                condition=milestone.project == project.id
                ).join(company,
                condition=milestone.company == company.id
                ).join(sale, 'LEFT',
                condition=project.sale == sale.id
                ).select(*cls._columns(
                    10, milestone, 'project.milestone',
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
                where=milestone.state.in_(
                    ['reached', 'accepted', 'invoiced', 'paid'])
                & (project.party != Null)),
            protocol.join(project2,
                condition=protocol.project == project2.id
                ).select(*cls._columns(
                    11, protocol, 'project.protocol',
                    party=project2.party, date=protocol.date,
                    kind=Literal('protocol'), summary=protocol.title,
                    state=protocol.state,
                    employee=project2.project_manager,
                    company=protocol.company),
                where=project2.party != Null),
            agreement.join(project3,
                condition=agreement.project == project3.id
                ).select(*cls._columns(
                    12, agreement, 'project.agreement',
                    party=project3.party, date=agreement.date,
                    kind=Literal('agreement'), summary=agreement.name,
                    employee=project3.project_manager,
                    company=agreement.company),
                where=project3.party != Null),
            ]
