# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import re
import unicodedata
from collections import defaultdict

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
# Why a party looks like the organisation being recorded
MATCH_REASONS = [
    ('email', "E-mail"),
    ('phone', "Phone"),
    ('name_city', "Name and City"),
    ('name', "Name"),
    ]


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


def normalize_city(city):
    return normalize_name(city)


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
    city = fields.Char(
        "City",
        help="Where the organisation is; it tells organisations of the same "
        "name apart.")
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
    candidates = fields.One2Many(
        'crm.first_contact.candidate', None, "Possible Duplicates",
        help="Tick \"Use\" on the organisation to record the contact on it.")
    candidate_parties = fields.Many2Many(
        'party.party', None, None, "Candidate Organisations", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    party = fields.Many2One(
        'party.party', "Use Existing Organisation",
        domain=[('id', 'in', Eval('candidate_parties', []))],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The organisation on which the contact is recorded.")

    @fields.depends('candidates', 'party')
    def on_change_candidates(self):
        # "Use" chooses one organisation: the row just ticked wins
        used = [c.party for c in self.candidates if c.use and c.party]
        ticked = [p for p in used if p != self.party]
        if ticked:
            self.party = ticked[0]
        elif not used:
            self.party = None
        self._use_party()

    @fields.depends('candidates', 'party')
    def on_change_party(self):
        self._use_party()

    @fields.depends('candidates', 'party')
    def _use_party(self):
        candidates = list(self.candidates)
        for candidate in candidates:
            candidate.use = bool(self.party and candidate.party == self.party)
        self.candidates = candidates

    def chosen_parties(self):
        "Return the organisations chosen in the list or the field"
        # a client may send neither (RPC, "Record" without "check")
        candidates = getattr(self, 'candidates', None) or []
        parties = [c.party for c in candidates if c.use and c.party]
        if getattr(self, 'party', None):
            parties.append(self.party)
        return list(dict.fromkeys(parties))


class FirstContactCandidate(ModelView):
    __string__ = "New Contact Possible Duplicate"
    __name__ = 'crm.first_contact.candidate'

    use = fields.Boolean(
        "Use", help="Record the contact on this organisation.")
    party = fields.Many2One('party.party', "Organisation", readonly=True)
    reasons = fields.MultiSelection(
        MATCH_REASONS, "Matches", sort=False, readonly=True,
        help="What the organisation has in common with the one recorded.")
    city = fields.Char("City", readonly=True)


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
            Button("New Organisation", 'record_new', 'tryton-add'),
            Button("Record on Chosen", 'record', 'tryton-ok', default=True),
            ])
    record = StateTransition()
    record_new = StateTransition()
    open_ = StateAction('party.act_party_form')

    def transition_check(self):
        pool = Pool()
        Candidate = pool.get('crm.first_contact.candidate')
        self.check_input()
        self.duplicates.candidates = []
        self.duplicates.party = None
        if not self.start.party:
            matches = self.find_duplicate_matches(
                self.start.organisation, self.start.email, self.start.phone,
                self.start.city)
            if matches:
                self.duplicates.candidates = [
                    Candidate(
                        party=party, reasons=reasons, city=city, use=False)
                    for party, reasons, city in matches]
                return 'duplicates'
        return 'record'

    def default_duplicates(self, fields):
        pool = Pool()
        Candidate = pool.get('crm.first_contact.candidate')
        candidates = [
            Candidate(
                party=c.party, reasons=c.reasons, city=c.city,
                use=bool(c.use))
            for c in self.duplicates.candidates]
        return {
            'company': self.start.company.id,
            'candidates': candidates,
            'candidate_parties': [c.party.id for c in candidates],
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
        if start.city and len(start.city) > NAME_MAX:
            raise FirstContactError(gettext(
                    'crm_lifecycle.msg_first_contact_city_too_long',
                    length=NAME_MAX))
        if start.phone and not normalize_phone(start.phone):
            raise FirstContactError(gettext(
                    'crm_lifecycle.msg_first_contact_phone',
                    phone=start.phone[:NAME_MAX]))

    @classmethod
    def find_duplicates(cls, name, email=None, phone=None, limit=20):
        "Return parties with the same name, e-mail or phone once normalized"
        return [p for p, _, _ in cls.find_duplicate_matches(
                name, email, phone, limit=limit)]

    @classmethod
    def find_duplicate_matches(
            cls, name, email=None, phone=None, city=None, limit=20):
        """Return [(party, reasons, city)] for the parties with the same
        name, e-mail or phone once normalized; reasons are MATCH_REASONS
        keys, the name counts as name and city when an address of the
        party is in city"""
        pool = Pool()
        Party = pool.get('party.party')
        Mechanism = pool.get('party.contact_mechanism')
        Address = pool.get('party.address')
        found = defaultdict(set)
        key = normalize_name(name)
        if key:
            words = sorted(key.split(), key=len, reverse=True)
            for party in Party.search(
                    [('name', 'ilike', f'%{words[0]}%')], limit=200):
                if normalize_name(party.name) == key:
                    found[party].add('name')
        if email:
            for mechanism in Mechanism.search([
                        ('type', '=', 'email'),
                        ('value', 'ilike', normalize_email(email)),
                        ], limit=limit):
                found[mechanism.party].add('email')
        digits = normalize_phone(phone)
        if len(digits) >= 6:
            for mechanism in Mechanism.search([
                        ('type', 'in', ['phone', 'mobile', 'fax']),
                        ('value_compact', 'ilike', f'%{digits[-6:]}'),
                        ], limit=200):
                if normalize_phone(mechanism.value) == digits:
                    found[mechanism.party].add('phone')
        if not found:
            return []
        city_key = normalize_city(city)
        cities = {}
        # in upstream's order: party, sequence
        for address in Address.search([
                    ('party', 'in', [p.id for p in found]),
                    ]):
            party = address.party
            if address.city:
                cities.setdefault(party, address.city)
            if (city_key and 'name' in found[party]
                    and normalize_city(address.city) == city_key):
                found[party].discard('name')
                found[party].add('name_city')
        order = [r for r, _ in MATCH_REASONS]
        matches = [
            (party, sorted(reasons, key=order.index), cities.get(party))
            for party, reasons in found.items()]
        # the strongest match first: e-mail, phone, name and city, name
        matches.sort(key=lambda m: [order.index(r) for r in m[1]])
        return matches[:limit]

    _new_organisation = False

    def transition_record_new(self):
        self._new_organisation = True
        return self.transition_record()

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

        party = start.party
        if not party and not self._new_organisation:
            chosen = self.duplicates.chosen_parties()
            if len(chosen) > 1:
                raise FirstContactError(gettext(
                        'crm_lifecycle.msg_first_contact_choose_one',
                        parties=', '.join(p.rec_name for p in chosen)))
            elif not chosen and getattr(
                    self.duplicates, 'candidates', None):
                raise FirstContactError(gettext(
                        'crm_lifecycle.msg_first_contact_choose'))
            party = chosen[0] if chosen else None
        if not party:
            city = (start.city or '').strip() or None
            party = Party(
                name=start.organisation.strip(),
                crm_channel=start.channel,
                crm_event=start.event,
                first_contact_date=today,
                addresses=[Address(city=city)])
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
