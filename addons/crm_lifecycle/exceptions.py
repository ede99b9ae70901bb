# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class ActivityValidationError(ValidationError):
    pass


class ActivityDeleteError(AccessError):
    pass


class ActivityClosedError(AccessError):
    pass


class LostReasonError(ValidationError):
    pass


class StageAccessError(AccessError):
    pass


class HistoryAccessError(AccessError):
    pass


class FirstContactError(UserError):
    pass


class WorkflowFieldError(AccessError):
    pass


class FieldValueError(ValidationError):
    pass
