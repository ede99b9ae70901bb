# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Read an inbound e-mail into what the service desk stores of it.

The stdlib `email` package parses the message (policy default); the body is
decoded here from its bytes because mail in the wild labels Windows-1252
text as ISO-8859-1, names unknown charsets or has none: a label is a hint,
the text must come out readable."""
import email
import json
import logging
import mimetypes
import re
import unicodedata
from email import policy
from email.utils import getaddresses
from html.parser import HTMLParser

import trytond.config as config
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta

from trytond.modules.crm_lifecycle.common import CHAR_SIZE, SafeValuesMixin

from .exceptions import InboundEmailError

logger = logging.getLogger(__name__)

# Each attachment larger than this is not stored (the ticket text names it);
# the web hook refuses whole requests above [inbound_email] max_size anyway.
ATTACHMENT_MAX_SIZE = 10 * 1024 * 1024
# Windows-1252 is a superset of ISO-8859-1 for printable text and what
# mail programs mean with these labels (as the WHATWG encoding standard)
_LATIN1_LABELS = {
    'iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin-1', 'latin1', 'l1',
    'windows-1252', 'cp1252', 'x-cp1252'}
_ASCII_LABELS = {'', 'us-ascii', 'ascii', 'unknown-8bit', 'x-unknown'}
_AUTOMATIC_SUBJECT = re.compile(
    r'^\s*((re|aw|fw|wg|fwd)\s*:\s*)*'
    r'(automatische antwort|out of office|abwesenheitsnotiz'
    r'|automatic reply|autoreply)\b', re.IGNORECASE)
_AUTOMATIC_PRECEDENCE = {'auto_reply', 'bulk', 'junk'}
# The first line of the history that a reply quotes
_ATTRIBUTION = re.compile(
    r'^(am\s.+schrieb.*|on\s.+wrote):$', re.IGNORECASE)
_SEPARATOR = re.compile(
    r'^-{2,}\s*(original message|urspr\u00fcngliche nachricht)\s*-{2,}$',
    re.IGNORECASE)
_HEADER_FROM = re.compile(r'^(von|from)\s*:\s*\S', re.IGNORECASE)
_HEADER_SENT = re.compile(r'^(gesendet|sent|datum|date)\s*:', re.IGNORECASE)
_ADDRESS = re.compile(r'^[^@\s<>()",;:]+@[^@\s<>()",;:]+$')
# Share of control characters above which a text is binary, not language
_UNREADABLE_SHARE = 0.1


class UnreadableMessage(ValueError):
    "The data is no e-mail message that can be read"


class _TextExtractor(HTMLParser):
    "Collect the text of an HTML document without scripts and styles"
    _skip_tags = {'script', 'style', 'head', 'title'}
    _break_tags = {'br', 'p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._skip_tags:
            self._skip += 1
        elif tag in self._break_tags:
            self.parts.append('\n')

    def handle_endtag(self, tag):
        if tag in self._skip_tags:
            self._skip = max(self._skip - 1, 0)
        elif tag in self._break_tags:
            self.parts.append('\n')

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(html):
    "Return the visible text of html, never its scripts"
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = ''.join(parser.parts)
    lines = [' '.join(line.split()) for line in text.splitlines()]
    return re.sub(r'\n{3,}', '\n\n', '\n'.join(lines)).strip()


def attachment_max_size():
    return config.getint(
        'crm_service', 'email_attachment_max_size',
        default=ATTACHMENT_MAX_SIZE)


def decode_bytes(data, charset=None):
    "Return the text of data, written in charset as far as it says"
    label = (charset or '').strip().lower()
    if label in _LATIN1_LABELS:
        candidates = ['cp1252']
    elif label in _ASCII_LABELS:
        candidates = ['utf-8', 'cp1252']
    else:
        candidates = [label, 'utf-8', 'cp1252']
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    # never fails: each byte is a character
    return data.decode('latin-1')


def clean_text(text, multiline=True):
    """Return text without NUL and other control characters and without
    lone surrogates, with \\n line ends"""
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    keep = {'\n', '\t'} if multiline else set()
    result = []
    for char in text:
        if char in keep:
            result.append(char)
        elif char == '\t' or (not multiline and char == '\n'):
            result.append(' ')
        elif unicodedata.category(char) in {'Cc', 'Cs'}:
            continue
        else:
            result.append(char)
    return ''.join(result)


def is_unreadable(text):
    "Whether text is binary data rather than language"
    if not text:
        return False
    bad = sum(1 for c in text
        if (unicodedata.category(c) == 'Cc' and c not in '\n\r\t\f')
        or c == '\ufffd')
    return bad > len(text) * _UNREADABLE_SHARE


def header_text(value):
    """Return the text of a header value; raw 8-bit bytes in it come back
    as surrogates from the parser and are decoded like a body"""
    if value is None:
        return ''
    text = str(value)
    try:
        data = text.encode('utf-8', 'surrogateescape')
    except UnicodeEncodeError:
        return clean_text(text, multiline=False)
    return clean_text(decode_bytes(data), multiline=False)


def strip_quoted(text):
    """Return the new text of a reply: without the history it quotes at its
    end ("Am ... schrieb ...:" with "> " lines, "Von: / Gesendet:" blocks,
    "Original Message" separators), or the whole text when it answers
    between quoted lines"""
    lines = text.split('\n')
    for i, line in enumerate(lines):
        stripped = line.strip()
        rest = [r.strip() for r in lines[i + 1:] if r.strip()]
        if _SEPARATOR.match(stripped) or (_HEADER_FROM.match(stripped)
                and rest and _HEADER_SENT.match(rest[0])):
            pass
        elif _ATTRIBUTION.match(stripped):
            if not all(r.startswith('>') for r in rest):
                continue
        elif (stripped.lower().startswith(('am ', 'on ')) and rest
                and _ATTRIBUTION.match(stripped + ' ' + rest[0])):
            # mail programs wrap a long attribution line
            if not all(r.startswith('>') for r in rest[1:]):
                continue
        elif not (stripped.startswith('>')
                and all(r.startswith('>') for r in rest)):
            continue
        new = '\n'.join(lines[:i]).strip()
        return new or text.strip()
    return text.strip()


def _automatic(message, subject, sender):
    "Return 'bounce', 'auto_reply' or None"
    if (message.get_content_type() == 'multipart/report'
            and (message.get_param('report-type') or '').lower()
            == 'delivery-status'):
        return 'bounce'
    if sender.split('@')[0].lower() == 'mailer-daemon':
        return 'bounce'
    auto_submitted = header_text(message.get('Auto-Submitted'))
    if auto_submitted.split(';')[0].strip().lower() not in {'', 'no'}:
        return 'auto_reply'
    if header_text(message.get('X-Autoreply')).strip() or header_text(
            message.get('X-Autorespond')).strip():
        return 'auto_reply'
    precedence = header_text(message.get('Precedence')).strip().lower()
    if precedence in _AUTOMATIC_PRECEDENCE:
        return 'auto_reply'
    if _AUTOMATIC_SUBJECT.match(subject):
        return 'auto_reply'


def _part_text(part):
    data = part.get_payload(decode=True) or b''
    text = decode_bytes(data, part.get_content_charset())
    if is_unreadable(text):
        raise UnreadableMessage("binary body")
    if part.get_content_subtype() == 'html':
        text = html_to_text(text)
    return clean_text(text).strip()


def _body(message):
    "Return the part holding the text and the text, plain preferred"
    for preference in [('plain',), ('html',)]:
        part = message.get_body(preferencelist=preference)
        if part is not None:
            text = _part_text(part)
            if text:
                return part, text
    return None, ''


def _attachments(message, body):
    "Yield the parts that are not the text of the message"
    for index, part in enumerate(message.walk(), 1):
        if part.is_multipart() or part is body:
            continue
        if part.get_content_type() == 'message/delivery-status':
            continue
        filename = part.get_filename()
        if (not filename and part.get_content_maintype() == 'text'
                and not part.is_attachment()):
            # the other alternative of the text
            continue
        name = header_text(filename).replace('/', '_').replace('\\', '_')
        extension = (
            mimetypes.guess_extension(part.get_content_type()) or '.bin')
        name = name.strip()[:CHAR_SIZE] or f'attachment-{index}{extension}'
        yield {
            'filename': name,
            'type': part.get_content_type(),
            'data': part.get_payload(decode=True) or b'',
            }


def parse_message(raw):
    """Return the dict of the raw message: from, subject, text, attachments,
    skipped (too large attachments: name, size), message_id, automatic"""
    if isinstance(raw, str):
        raw = raw.encode('utf-8', 'surrogateescape')
    if not raw or not raw.strip():
        raise UnreadableMessage("no data")
    message = email.message_from_bytes(raw, policy=policy.default)
    if not message.keys():
        raise UnreadableMessage("no header")
    sender = ''
    for _, address in getaddresses([header_text(message.get('From'))]):
        if _ADDRESS.match(address.strip()):
            sender = address.strip()[:CHAR_SIZE]
            break
    subject = ' '.join(header_text(message.get('Subject')).split())
    body, text = _body(message)
    max_size = attachment_max_size()
    attachments, skipped = [], []
    for attachment in _attachments(message, body):
        if len(attachment['data']) > max_size:
            skipped.append((attachment['filename'], len(attachment['data'])))
        else:
            attachments.append(attachment)
    message_id = header_text(message.get('Message-ID')).strip()
    return {
        'from': sender,
        'subject': subject,
        'text': text,
        'attachments': attachments,
        'skipped': skipped,
        'message_id': message_id[:CHAR_SIZE] or None,
        'automatic': _automatic(message, subject, sender),
        }


def parse_dict(value):
    "Return the dict of a message that the provider gave as fields"
    text = clean_text(str(value.get('text') or '')).strip()
    html = value.get('html')
    if html and (not text or text == str(html).strip()):
        text = clean_text(html_to_text(str(html))).strip()
    headers = {str(k).lower(): header_text(v)
        for k, v in (value.get('headers') or {}).items()}
    max_size = attachment_max_size()
    attachments, skipped = [], []
    for attachment in value.get('attachments') or []:
        attachment = dict(attachment)
        attachment['filename'] = header_text(
            attachment.get('filename')).strip()[:CHAR_SIZE] or 'attachment'
        if len(attachment.get('data') or b'') > max_size:
            skipped.append(
                (attachment['filename'], len(attachment['data'])))
        else:
            attachments.append(attachment)
    message = email.message.EmailMessage()
    for name in ['auto-submitted', 'x-autoreply', 'precedence']:
        if headers.get(name):
            message[name] = headers[name]
    sender = header_text(value.get('from')).strip()[:CHAR_SIZE]
    subject = ' '.join(header_text(value.get('subject')).split())
    return {
        'from': sender if _ADDRESS.match(sender) else '',
        'subject': subject,
        'text': text,
        'attachments': attachments,
        'skipped': skipped,
        'message_id': (headers.get('message-id') or '').strip()[
            :CHAR_SIZE] or None,
        'automatic': _automatic(message, subject, sender),
        }


class Email(metaclass=PoolMeta):
    __name__ = 'inbound.email'

    def as_dict(self):
        # the rules match on it before any action runs: data that a provider
        # posted but nobody can read is the sender's error, not the server's
        try:
            return super().as_dict()
        except Exception as exception:
            logger.warning(
                "inbound e-mail refused, unreadable: %s", exception)
            raise InboundEmailError(gettext(
                    'crm_service.msg_inbound_email_invalid')) from exception

    def service_message(self):
        """Return the message as the service desk reads it (see
        parse_message); raise UnreadableMessage"""
        try:
            if self.data_type == 'raw':
                return parse_message(self.data)
            elif self.data_type == 'mailchimp':
                return parse_message(json.loads(self.data)['raw_msg'])
            elif self.data_type == 'mailpace':
                return parse_message(json.loads(self.data)['raw'])
            elif self.data_type == 'sendgrid':
                return parse_message(json.loads(self.data)['email'])
            return parse_dict(self.as_dict())
        except UnreadableMessage:
            raise
        except Exception as exception:
            # whatever the parser trips on is the sender's data
            raise UnreadableMessage(str(exception)) from exception


class Rule(SafeValuesMixin, metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    company = fields.Many2One(
        'company.company', "Company", ondelete='CASCADE',
        help="The company whose service desk receives the e-mails.\n"
        "Required when more than one company exists.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            ('service.ticket|from_inbound_email', "Create Service Ticket"))
