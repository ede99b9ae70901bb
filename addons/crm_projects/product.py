# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval


class Template(metaclass=PoolMeta):
    __name__ = 'product.template'

    project_service = fields.Boolean(
        "Project Service",
        states={
            'invisible': Eval('type') != 'service',
            },
        help="Check to create a project task when an order with this "
        "service is confirmed. The line is then invoiced by the project "
        "(milestones or time and material), not by the order.")

    @classmethod
    def default_project_service(cls):
        return False
