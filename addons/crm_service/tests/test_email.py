# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""E-mail intake of the service desk through the inbox's web hook.

Each message of tests/mail is posted to the web hook as a mail provider
posts it, so that the HTTP answer is the real one; then what the desk got
is read back: the stored text, the ticket (new, posted into, reopened or
nothing) and its attachments."""
import html
import unittest
import uuid
from pathlib import Path

import trytond.config as config
from trytond.modules.company.tests import create_company
from trytond.pool import Pool
from trytond.protocols.wrappers import HTTPStatus
from trytond.tests.test_tryton import RouteTestCase, with_transaction
from trytond.transaction import Transaction

from trytond.modules.crm_service.inbound_email import parse_message

MAIL = Path(__file__).resolve().parent / 'mail'
LOGGER = 'trytond.modules.crm_service'


class EmailIntakeTestCase(RouteTestCase):
    "Test the e-mail intake of the service desk"
    module = 'crm_service'

    inboxes = {
        'a': uuid.uuid4().hex,
        'b': uuid.uuid4().hex,
        'none': uuid.uuid4().hex,
        }

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Inbox = pool.get('inbound.email.inbox')
        Party = pool.get('party.party')
        company_a = create_company(name="Company A")
        company_b = create_company(name="Company B")
        Party(name="ACME", contact_mechanisms=[
                {'type': 'email', 'value': 'buyer@acme.example'},
                {'type': 'email', 'value': 'Anna@ACME.example'},
                ]).save()
        Party(name="Other", contact_mechanisms=[
                {'type': 'email', 'value': 'other@other.example'},
                ]).save()
        action = 'service.ticket|from_inbound_email'
        for key, name, company in [
                ('a', "Hotline A", company_a),
                ('b', "Hotline B", company_b),
                ('none', "Hotline", None)]:
            Inbox(name=name, identifier=cls.inboxes[key], rules=[{
                        'action': action,
                        'company': company.id if company else None,
                        }]).save()

    def post(self, name, inbox='a', ticket=None):
        "Post the message file name to the web hook of inbox"
        data = (MAIL / name).read_bytes()
        if ticket:
            data = data.replace(b'%TICKET%', ticket.encode())
        return self.client().post(
            f'/{self.db_name}/inbound_email/inbox/{self.inboxes[inbox]}',
            data=data)

    def assertRefused(self, name, text, reason):
        """Posting name is answered 400 with text, logged with reason and
        changes nothing"""
        before = self.counts()
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            response = self.post(name)
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn(text, html.unescape(response.get_data(as_text=True)))
        self.assertIn(reason, '\n'.join(logs.output))
        self.assertEqual(self.counts(), before)

    @with_transaction()
    def counts(self):
        "Return the number of tickets, activities, attachments and e-mails"
        pool = Pool()
        return tuple(pool.get(m).search([], count=True) for m in [
                'service.ticket', 'crm.activity', 'ir.attachment',
                'inbound.email'])

    @with_transaction()
    def ticket(self, message_id):
        "Return the values of the ticket of message_id or None"
        pool = Pool()
        Ticket = pool.get('service.ticket')
        tickets = Ticket.search([('message_id', '=', message_id)])
        if not tickets:
            return None
        ticket, = tickets
        return {
            'id': ticket.id,
            'number': ticket.number,
            'company': ticket.company.rec_name,
            'party': ticket.party.rec_name if ticket.party else None,
            'email_from': ticket.email_from,
            'channel': ticket.channel,
            'title': ticket.title,
            'description': ticket.description,
            'state': ticket.state,
            'activities': [
                (a.activity_type, a.direction, a.subject, a.description)
                for a in sorted(ticket.activities, key=lambda a: a.id)],
            'attachments': self.attachments(ticket),
            }

    def attachments(self, ticket):
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        return [(a.name, bytes(a.data)) for a in Attachment.search([
                    ('resource', '=', str(ticket)),
                    ], order=[('id', 'ASC')])]

    def test_decoding(self):
        "Bodies are decoded whatever their transfer encoding and charset"
        for name, message_id, title, description in [
                ('01_umlauts_base64.eml', '<01-base64@acme.example>',
                    "Drucker stört",
                    "Guten Tag,\n\nunser Drucker im Büro zeigt seit heute "
                    "früh eine Störung.\nBitte um Rückruf.\n\n"
                    "Mit freundlichen Grüßen\nJürgen Müller"),
                ('02_umlauts_qp.eml', '<02-qp@acme.example>',
                    "Lieferung unvollständig",
                    "Die Größe der Lieferung stimmt nicht: 3 statt 5 Stück."
                    "\nÄnderung bitte bestätigen."),
                ('03_windows1252.eml', '<03-cp1252@acme.example>',
                    "Rechnung 4711",
                    "Der Preis von 120 € ist „zu hoch“ – bitte prüfen."),
                ('04_iso885915_euro.eml', '<04-latin9@acme.example>',
                    "Gutschrift", "Die Gutschrift über 45 € fehlt noch."),
                # Windows-1252 labelled ISO-8859-1, as Outlook sends it
                ('18_mislabelled_latin1.eml',
                    '<18-mislabelled@acme.example>', "Versandkosten",
                    "Lieferung „express“ kostet 15 € – zu teuer."),
                ('05_outlook_html.eml', '<05-outlook@acme.example>',
                    "Maschine steht",
                    "Hallo Service-Team,\n\ndie Maschine meldet \"E42\" & "
                    "steht.\nBitte schnell melden.\n\nGrüße\nAnna"),
                ('06_alternative.eml', '<06-alternative@acme.example>',
                    "Zugang gesperrt",
                    "Mein Zugang ist gesperrt (Klartext)."),
                ('14_nul_byte.eml', '<14-nul@acme.example>',
                    "Fehlercode", "Fehlercode E17 im Display."),
                ]:
            with self.subTest(name=name):
                response = self.post(name)
                self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
                ticket = self.ticket(message_id)
                self.assertEqual(
                    (ticket['title'], ticket['description']),
                    (title, description))
                self.assertEqual(
                    (ticket['company'], ticket['party'], ticket['channel'],
                        ticket['state'], ticket['activities'],
                        ticket['attachments']),
                    ("Company A", "ACME", 'email', 'new', [], []))

    def test_attachment(self):
        "The PDF of a multipart/mixed message is attached to the ticket"
        pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
            b"trailer << /Root 1 0 R >>\n%%EOF\n")
        response = self.post('07_mixed_pdf.eml')
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        ticket = self.ticket('<07-pdf@acme.example>')
        self.assertEqual(ticket['description'], "Im Anhang der Lieferschein.")
        self.assertEqual(
            ticket['attachments'], [("Lieferschein 0815.pdf", pdf)])

        # larger than the limit: named in the text, not stored
        config.add_section('crm_service')
        self.addCleanup(config.remove_section, 'crm_service')
        config.set('crm_service', 'email_attachment_max_size', '10')
        data = (MAIL / '07_mixed_pdf.eml').read_bytes().replace(
            b'<07-pdf@', b'<07-pdf-large@')
        response = self.client().post(
            f'/{self.db_name}/inbound_email/inbox/{self.inboxes["a"]}',
            data=data)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        ticket = self.ticket('<07-pdf-large@acme.example>')
        self.assertEqual(ticket['attachments'], [])
        self.assertEqual(ticket['description'],
            "Im Anhang der Lieferschein.\n\n"
            "The attachment \"Lieferschein 0815.pdf\" (1 KB) was not stored "
            "because it is larger than 1 KB.")

    def test_refused(self):
        "A broken message is answered 400, logged and changes nothing"
        self.assertRefused('12_no_from.eml',
            "You cannot create a ticket from the e-mail \"Ohne Absender\" "
            "because it has no sender address.", "no sender")
        self.assertRefused('13_empty.eml',
            "You cannot create a ticket from the e-mail of "
            "\"buyer@acme.example\" because it has neither subject nor "
            "text.", "empty")
        self.assertRefused('15_garbage.eml',
            "You cannot create a ticket from the e-mail because it cannot "
            "be read as an e-mail message.", "unreadable")

        # a provider's JSON that is none
        before = self.counts()
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            response = self.client().post(
                f'/{self.db_name}/inbound_email/inbox/{self.inboxes["a"]}'
                '?type=postmark', data=b'not json')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn("because it cannot be read as an e-mail message.",
            html.unescape(response.get_data(as_text=True)))
        self.assertIn("unreadable", '\n'.join(logs.output))
        self.assertEqual(self.counts(), before)

    def test_automatic(self):
        "Auto-replies, newsletters and bounces create nothing"
        for name in [
                '10_out_of_office.eml', '19_precedence_bulk.eml',
                '11_bounce.eml']:
            with self.subTest(name=name):
                before = self.counts()
                response = self.post(name)
                self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
                tickets, activities, attachments, emails = self.counts()
                # only the e-mail itself is kept
                self.assertEqual(
                    (tickets, activities, attachments, emails - 1), before)

    def test_thread(self):
        "Only the customer's replies post into and reopen the ticket"

        @with_transaction()
        def create_ticket():
            pool = Pool()
            Company = pool.get('company.company')
            Mechanism = pool.get('party.contact_mechanism')
            Ticket = pool.get('service.ticket')
            company, = Company.search([('party.name', '=', "Company A")])
            contact, = Mechanism.search(
                [('value', '=', 'buyer@acme.example')])
            with Transaction().set_context(company=company.id):
                ticket = Ticket(
                    company=company, party=contact.party, contact=contact,
                    channel='email', title="Drucker stört",
                    email_from='buyer@acme.example')
                ticket.save()
                Ticket.open([ticket])
                Ticket.wait([ticket])
            Transaction().commit()
            return ticket.id, ticket.number

        @with_transaction()
        def read(ticket_id):
            pool = Pool()
            Ticket = pool.get('service.ticket')
            ticket = Ticket(ticket_id)
            return ticket.state, [
                (a.activity_type, a.direction, a.description)
                for a in sorted(ticket.activities, key=lambda a: a.id)]

        ticket_id, number = create_ticket()
        self.assertEqual(read(ticket_id), ('waiting', []))

        # a stranger's forged reference makes a new ticket
        response = self.post('16_forged_reference.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        self.assertEqual(read(ticket_id), ('waiting', []))
        forged = self.ticket('<16-forged@evil.example>')
        self.assertNotEqual(forged['id'], ticket_id)
        self.assertEqual(
            (forged['party'], forged['email_from'], forged['title'],
                forged['description'], forged['state']),
            (None, 'mallory@evil.example', f"Re: [{number}] Drucker stört",
                "Bitte senden Sie die Rechnung an meine neue Adresse.",
                'new'))

        # the customer's out-of-office is noted, the ticket keeps waiting
        response = self.post('09_auto_reply.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        self.assertEqual(read(ticket_id), ('waiting', [
                    ('note', 'in', "Ich bin bis zum 15.12. nicht im Büro."),
                    ]))

        # a bounce names the ticket but writes nothing into it
        before = self.counts()
        response = self.post('11_bounce.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        self.assertEqual(read(ticket_id)[0], 'waiting')
        self.assertEqual(len(read(ticket_id)[1]), 1)
        self.assertEqual(self.counts()[:3], before[:3])

        # the customer's reply: the new text without the quoted history
        response = self.post('08_reply_quoted.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        self.assertEqual(read(ticket_id), ('open', [
                    ('note', 'in', "Ich bin bis zum 15.12. nicht im Büro."),
                    ('email', 'in',
                        "Der Drucker stört weiterhin, auch nach dem "
                        "Neustart."),
                    ]))

        # a colleague whose address is the customer's too (any case)
        response = self.post('17_reply_colleague.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        state, activities = read(ticket_id)
        self.assertEqual(state, 'open')
        self.assertEqual(activities[-1], ('email', 'in',
                "Ich übernehme für Herrn Müller: Gerät steht in Raum 2."))

        # the same reply delivered again is recorded once
        response = self.post('08_reply_quoted.eml', ticket=number)
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        self.assertEqual(len(read(ticket_id)[1]), 3)

    def test_companies(self):
        "The rule names the company of the tickets"
        response = self.post('20_company_b.eml', inbox='b')
        self.assertEqual(response.status_code, HTTPStatus.NO_CONTENT)
        ticket = self.ticket('<20-company-b@acme.example>')
        self.assertEqual(
            (ticket['company'], ticket['party'], ticket['description']),
            ("Company B", "ACME", "Bitte Wartungstermin vereinbaren."))

        # without company on the rule and two companies: refused
        before = self.counts()
        with self.assertLogs(LOGGER, 'WARNING') as logs:
            response = self.post('20_company_b.eml', inbox='none')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn(
            "To create tickets from the e-mails of inbox \"Hotline\", you "
            "must set the company on its rule because there is more than "
            "one company.", html.unescape(response.get_data(as_text=True)))
        self.assertIn("has no company", '\n'.join(logs.output))
        self.assertEqual(self.counts(), before)


class AutomaticMailTestCase(unittest.TestCase):
    "Test which messages are automatic"

    def test_automatic(self):
        for headers, expected in [
                ('Auto-Submitted: auto-generated', 'auto_reply'),
                ('Auto-Submitted: no', None),
                ('X-Autoreply: yes', 'auto_reply'),
                ('Precedence: junk', 'auto_reply'),
                ('Precedence: auto_reply', 'auto_reply'),
                ('Precedence: list', None),
                ('Subject: Out of Office: Termin', 'auto_reply'),
                ('Subject: AW: Automatische Antwort: Termin', 'auto_reply'),
                ('Subject: Frage zu Out of Office', None),
                ('From: mailer-daemon@mx.example', 'bounce'),
                ]:
            with self.subTest(headers=headers):
                lines = [headers] if headers.startswith('From:') else [
                    'From: buyer@acme.example', headers]
                raw = '\r\n'.join(lines) + '\r\n\r\nText\r\n'
                self.assertEqual(
                    parse_message(raw.encode())['automatic'], expected)
