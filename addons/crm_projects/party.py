# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime

from sql import Null, Union, With
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Coalesce
from sql.operators import Concat
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import reduce_ids
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Party(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_active_projects = fields.Function(
        fields.Integer("Active Projects"), 'get_crm_figures')
    crm_hours_30_days = fields.Function(
        fields.Float(
            "Hours Last 30 Days",
            help="The hours logged on the party's projects "
            "in the last 30 days."),
        'get_crm_figures')
    crm_next_milestone_date = fields.Function(
        fields.Date("Next Milestone"), 'get_crm_figures')
    crm_milestones_unpaid = fields.Function(
        fields.Integer("Milestones Invoiced Unpaid"), 'get_crm_figures')

    @classmethod
    def _crm_figure_queries(cls, party_ids, names):
        pool = Pool()
        Work = pool.get('project.work')
        Status = pool.get('project.work.status')
        Milestone = pool.get('project.milestone')
        TimesheetWork = pool.get('timesheet.work')
        TimesheetLine = pool.get('timesheet.line')
        Date = pool.get('ir.date')
        yield from super()._crm_figure_queries(party_ids, names)
        company = Transaction().context.get('company')

        if 'crm_active_projects' in names:
            project = Work.__table__()
            status = Status.__table__()
            where = (reduce_ids(project.party, party_ids)
                & (project.type == 'project')
                & (Coalesce(status.progress, 0) < 1))
            if company:
                where &= project.company == company
            yield project.join(status,
                condition=project.status == status.id
                ).select(
                    project.party, Count(project.id),
                    where=where, group_by=project.party), [
                'crm_active_projects']

        if 'crm_hours_30_days' in names:
            tree = cls._crm_project_works(party_ids)
            twork = TimesheetWork.__table__()
            line = TimesheetLine.__table__()
            since = Date.today() - datetime.timedelta(days=30)
            where = line.date >= since
            if company:
                where &= line.company == company
            yield tree.join(twork,
                condition=Concat('project.work,', tree.id) == twork.origin
                ).join(line, condition=line.work == twork.id
                ).select(
                    tree.party, Sum(line.duration),
                    where=where, group_by=tree.party,
                    with_=[tree]), ['crm_hours_30_days']

        milestone = Milestone.__table__()
        project = Work.__table__()
        where = reduce_ids(project.party, party_ids)
        if company:
            where &= milestone.company == company
        milestones = milestone.join(project,
            condition=milestone.project == project.id)
        if 'crm_next_milestone_date' in names:
            yield milestones.select(
                project.party, Min(milestone.planned_date),
                where=where
                & milestone.state.in_(['planned', 'reached', 'accepted'])
                & (milestone.planned_date != Null),
                group_by=project.party), ['crm_next_milestone_date']
        if 'crm_milestones_unpaid' in names:
            yield milestones.select(
                project.party, Count(milestone.id),
                where=where & (milestone.state == 'invoiced'),
                group_by=project.party), ['crm_milestones_unpaid']

    @classmethod
    def _crm_project_works(cls, party_ids):
        """Return a recursive WITH query of (id, party): the works of the
        parties and the works below them at any depth; a work with a party
        of its own belongs to that party, as do the works below it"""
        pool = Pool()
        Work = pool.get('project.work')
        work = Work.__table__()
        child = Work.__table__()
        tree = With('id', 'party', recursive=True)
        tree.query = Union(
            work.select(work.id, work.party,
                where=reduce_ids(work.party, party_ids)),
            child.join(tree, condition=child.parent == tree.id).select(
                child.id, tree.party,
                where=child.party == Null),
            all_=True)
        return tree

    @classmethod
    def _crm_figure_defaults(cls):
        return {
            **super()._crm_figure_defaults(),
            'crm_active_projects': 0,
            'crm_hours_30_days': 0.0,
            'crm_milestones_unpaid': 0,
            }

    @classmethod
    def _crm_figure_value(cls, name, value):
        if name == 'crm_hours_30_days':
            # The backends sum durations as interval or seconds
            if isinstance(value, datetime.timedelta):
                value = value.total_seconds()
            return round(float(value or 0) / 60 / 60, 2)
        return super()._crm_figure_value(name, value)
