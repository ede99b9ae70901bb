# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class TicketValidationError(ValidationError):
    pass


class TicketError(UserError):
    pass


class TicketAccessError(AccessError):
    pass


class ActivityAccessError(AccessError):
    pass


class SLAValidationError(ValidationError):
    pass


class TimesheetLineError(AccessError):
    pass


class InvoicingError(UserError):
    pass


class ComplaintError(UserError):
    pass


class InboundEmailError(UserError):
    pass


class ContractValidationError(ValidationError):
    pass


class ContractAccessError(AccessError):
    pass
