# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class MilestoneValidationError(ValidationError):
    pass


class MilestoneWorkflowError(UserError):
    pass


class MilestoneDeleteError(AccessError):
    pass


class MilestoneLockedError(AccessError):
    pass


class TimesheetValidationError(ValidationError):
    pass


class TimesheetLockedError(AccessError):
    pass


class TimesheetGroupError(AccessError):
    pass


class ProtocolError(UserError):
    pass


class ProtocolLockedError(AccessError):
    pass
