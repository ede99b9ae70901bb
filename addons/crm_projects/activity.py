# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import PoolMeta


class Activity(metaclass=PoolMeta):
    __name__ = 'crm.activity'

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + [
            'project.work', 'project.milestone', 'project.agreement',
            'project.protocol']
