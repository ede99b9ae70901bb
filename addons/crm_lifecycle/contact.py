# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import re
import unicodedata

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction
from trytond.wizard import (
    Button,
    StateAction,
    StateTransition,
    StateView,
    Wizard,
)

from .exceptions import FirstContactError
from .party import CHANNELS

NAME_MAX = 200
_EMAIL_PART = r'[^@\s<>(),;:"\[\]]+'
EMAIL_RE = re.compile(rf'^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$')
# Legal forms do not tell two organisations apart.
LEGAL_FORMS = {
    'gmbh', 'ag', 'kg', 'co', 'ohg', 'ug', 'ek', 'ev', 'se', 'mbh',
    'kgaa', 'ltd', 'inc', 'llc', 'plc', 'sa', 'sarl', 'bv', 'nv', 'srl',
    'spa', 'corp', 'und', 'and', 'haftungsbeschrankt'}
# Müller and Mueller are the same company.
GERMAN_SPELLING = {'ä': 'ae', 'ö': 'oe', 'ü': 'ue', 'ß': 'ss'}
CHANNEL_ACTIVITY = {
    'trade_fair': 'meeting',
    'shop': 'visit',
    'phone': 'call',
    'meeting': 'meeting',
    'web': 'note',
    'email': 'email',
    'referral': 'note',
    'service': 'call',
    }


def normalize_name(name):
    "Return the words of an organisation name that identify it"
    name = (name or '').casefold()
    for umlaut, spelling in GERMAN_SPELLING.items():
        name = name.replace(umlaut, spelling)
    name = unicodedata.normalize('NFKD', name)
    name = ''.join(c for c in name if not unicodedata.combining(c))
    words = re.findall(r'\w+', name.casefold())
    return ' '.join(w for w in words if w not in LEGAL_FORMS)


def normalize_phone(phone):
    "Return the significant digits of a phone number"
    digits = re.sub(r'\D', '', phone or '')
    if (phone or '').strip().startswith('+'):
        digits = digits[2:]
    elif digits.startswith('00'):
        digits = digits[4:]
    return digits.lstrip('0')


def normalize_email(email):
    return (email or '').strip().casefold()


class FirstContactStart(ModelView):
    __string__ = "New Contact"
    __name__ = 'crm.first_contact.start'

    company = fields.Many2One('company.company', "Company", required=True)
    party = fields.Many2One(
        'party.party', "Existing Organisation",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Leave empty to create a new organisation.")
    organisation = fields.Char(
        "Organisation",
        states={
            'required': ~Eval('party'),
            'invisible': Bool(Eval('party')),
            })
    person = fields.Char("Person Met")
    email = fields.Char("E-mail")
    phone = fields.Char("Phone")
    channel = fields.Selection(
        CHANNELS, "Channel", required=True, sort=False)
    event = fields.Many2One(
        'marketing.campaign', "Event",
        help="The trade fair or event, e.g. Hannover Messe 2026.")
    note = fields.Text("Conversation")
    employee = fields.Many2One(
        'company.employee', "Employee",
        domain=[('company', '=', Eval('company', -1))])
    create_opportunity = fields.Boolean("Create Opportunity")
    description = fields.Char(
        "Opportunity",
        states={
            'invisible': ~Eval('create_opportunity'),
            'required': Bool(Eval('create_opportunity')),
            })
    amount = Monetary(
        "Expected Amount", currency='currency', digits='currency',
        states={
            'invisible': ~Eval('create_opportunity'),
            })
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_employee(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_create_opportunity(cls):
        return False

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None


class FirstContactDuplicates(ModelView):
    __string__ = "New Contact Possible Duplicates"
    __name__ = 'crm.first_contact.duplicates'

    company = fields.Many2One('company.company', "Company", readonly=True)
    candidates = fields.Many2Many(
        'party.party', None, None, "Possible Duplicates", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    party = fields.Many2One(
        'party.party', "Use Existing Organisation",
        domain=[('id', 'in', Eval('candidates', []))],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Pick an organisation to record the contact on it, or leave "
        "empty to create a new one.")


class FirstContact(Wizard):
    __name__ = 'crm.first_contact'

    start = StateView(
        'crm.first_contact.start',
        'crm_lifecycle.first_contact_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Record", 'check', 'tryton-ok', default=True),
            ])
    check = StateTransition()
    duplicates = StateView(
        'crm.first_contact.duplicates',
        'crm_lifecycle.first_contact_duplicates_view_form', [
            Button("Back", 'start', 'tryton-back'),
            Button("Record", 'record', 'tryton-ok', default=True),
            ])
    record = StateTransition()
    open_ = StateAction('party.act_party_form')

    def transition_check(self):
        self.check_input()
        if not self.start.party:
            candidates = self.find_duplicates(
                self.start.organisation, self.start.email, self.start.phone)
            if candidates:
                self.duplicates.candidates = candidates
                self.duplicates.party = None
                return 'duplicates'
        return 'record'

    def default_duplicates(self, fields):
        return {
            'company': self.start.company.id,
            'candidates': [p.id for p in self.duplicates.candidates],
            'party': (self.duplicates.party.id
                if self.duplicates.party else None),
            }

    def check_input(self):
        start = self.start
        if not start.party and not (start.organisation or '').strip():
            raise FirstContactError(
                gettext('crm_lifecycle.msg_first_contact_organisation'))
        if not start.channel:
            raise FirstContactError(
                gettext('crm_lifecycle.msg_first_contact_channel'))
        for value in [start.organisation, start.person]:
            if value and len(value) > NAME_MAX:
                raise FirstContactError(gettext(
                        'crm_lifecycle.msg_first_contact_name_too_long',
                        length=NAME_MAX))
        if start.email and not EMAIL_RE.match(start.email.strip()):
            raise FirstContactError(gettext(
                    'crm_lifecycle.msg_first_contact_email',
                    email=start.email[:NAME_MAX]))
        if start.phone and not normalize_phone(start.phone):
            raise FirstContactError(gettext(
                    'crm_lifecycle.msg_first_contact_phone',
                    phone=start.phone[:NAME_MAX]))

    @classmethod
    def find_duplicates(cls, name, email=None, phone=None, limit=20):
        "Return parties with the same name, e-mail or phone once normalized"
        pool = Pool()
        Party = pool.get('party.party')
        Mechanism = pool.get('party.contact_mechanism')
        found = []
        key = normalize_name(name)
        if key:
            words = sorted(key.split(), key=len, reverse=True)
            for party in Party.search(
                    [('name', 'ilike', f'%{words[0]}%')], limit=200):
                if normalize_name(party.name) == key:
                    found.append(party)
        if email:
            found.extend(m.party for m in Mechanism.search([
                        ('type', '=', 'email'),
                        ('value', 'ilike', normalize_email(email)),
                        ], limit=limit))
        digits = normalize_phone(phone)
        if len(digits) >= 6:
            for mechanism in Mechanism.search([
                        ('type', 'in', ['phone', 'mobile', 'fax']),
                        ('value_compact', 'ilike', f'%{digits[-6:]}'),
                        ], limit=200):
                if normalize_phone(mechanism.value) == digits:
                    found.append(mechanism.party)
        unique = []
        for party in found:
            if party not in unique:
                unique.append(party)
        return unique[:limit]

    def transition_record(self):
        pool = Pool()
        Party = pool.get('party.party')
        Mechanism = pool.get('party.contact_mechanism')
        Address = pool.get('party.address')
        Activity = pool.get('crm.activity')
        Opportunity = pool.get('sale.opportunity')
        Date = pool.get('ir.date')
        start = self.start
        self.check_input()
        with Transaction().set_context(company=start.company.id):
            today = Date.today()

        party = start.party or getattr(self.duplicates, 'party', None)
        if not party:
            party = Party(
                name=start.organisation.strip(),
                crm_channel=start.channel,
                crm_event=start.event,
                first_contact_date=today,
                addresses=[Address()])
            party.save()
        contact = None
        mechanisms = []
        person = (start.person or '').strip() or None
        if start.email:
            mechanisms.append(Mechanism(
                    party=party, type='email', value=start.email.strip(),
                    name=person))
        if start.phone:
            mechanisms.append(Mechanism(
                    party=party, type='phone', value=start.phone.strip(),
                    name=person))
        if person and not mechanisms:
            mechanisms.append(Mechanism(
                    party=party, type='other', value=person, name=person))
        Mechanism.save(mechanisms)
        if mechanisms:
            contact = mechanisms[0]

        subject = gettext(
            'crm_lifecycle.msg_first_contact_subject',
            channel=dict(self.start.fields_get(
                    ['channel'])['channel']['selection'])[start.channel],
            event=start.event.rec_name if start.event else '')
        activity = Activity(
            company=start.company, party=party, contact=contact,
            activity_type=CHANNEL_ACTIVITY.get(start.channel, 'note'),
            direction='in', subject=subject.strip(' -–'),
            description=start.note, employee=start.employee,
            state='planned')
        if start.create_opportunity:
            opportunity = Opportunity(
                company=start.company, party=party, contact=contact,
                description=start.description, amount=start.amount,
                currency=start.company.currency, employee=start.employee,
                crm_channel=start.channel, marketing_campaign=start.event,
                start_date=today)
            opportunity.save()
            activity.resource = opportunity
        activity.save()
        Activity.do([activity])
        self.start.party = party
        return 'open_'

    def do_open_(self, action):
        action['res_id'] = [self.start.party.id]
        action['views'].reverse()
        return action, {}
