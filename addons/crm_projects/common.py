# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import Pool


def sign_off(records, contact, date, error):
    """Record the customer's sign-off on records: every record must name the
    contact who signed (else error(record) is raised, before anything
    changes) and is dated today unless a date is given. The caller saves."""
    pool = Pool()
    Date = pool.get('ir.date')
    for record in records:
        if not getattr(record, contact):
            raise error(record)
    today = Date.today()
    for record in records:
        if not getattr(record, date):
            setattr(record, date, today)
