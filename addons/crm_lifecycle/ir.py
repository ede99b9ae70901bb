# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import trytond.config as config
from trytond.pool import PoolMeta
from trytond.tools import grouped_slice

# Records per ir.queue task of the suite's jobs: the work of a task is
# set-based, so a task is a few queries whatever its size.
QUEUE_BATCH = 500


def has_worker():
    "Whether a trytond-worker processes ir.queue ([queue] worker)"
    return config.getboolean('queue', 'worker', default=False)


def enqueue(Model, method, records, run=None, batch=QUEUE_BATCH):
    """Run Model.method(records) through ir.queue, in tasks of batch
    records, when a trytond-worker processes the queue; else at once, as
    run(records) when given (the work without the checks a task makes
    when it runs later) or Model.method(records).

    Without a worker Tryton would run the task in the same process right
    after the commit: the caller waits either way, so the work stays in
    its transaction (a job run from the console or a test sees the effect
    before it commits)."""
    records = list(records)
    if not records:
        return []
    if not has_worker():
        (run or getattr(Model, method))(records)
        return []
    task_ids = []
    for sub_records in grouped_slice(records, count=batch):
        task_ids.extend(getattr(Model.__queue__, method)(list(sub_records)))
    return task_ids


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('party.party|mark_dormant', "Mark Dormant Customers"),
                ('sale.sale|plan_quotation_followups',
                    "Plan Quotation Follow-ups"),
                ('party.party|recompute_all_lifecycle_stages',
                    "Recompute Lifecycle Stages"),
                ])
