# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelSQL, ModelView, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction

from trytond.modules.crm_lifecycle.common import SafeValuesMixin


class Team(SafeValuesMixin, ModelSQL, ModelView):
    __name__ = 'service.team'
    __string__ = "Service Team"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    lead = fields.Many2One(
        'company.employee', "Lead",
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="Who receives the escalations of the team's tickets.")
    members = fields.Many2Many(
        'service.team-company.employee', 'team', 'employee', "Members",
        domain=[
            ('company', '=', Eval('company', -1)),
            ])

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class TeamEmployee(SafeValuesMixin, ModelSQL):
    __name__ = 'service.team-company.employee'
    __string__ = "Service Team Member"

    team = fields.Many2One(
        'service.team', "Team", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')
