# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The suite in a real browser: headless Chromium drives the web client
(sao) against a demo database served by trytond."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
SAO = ROOT / 'node_modules' / 'tryton-sao'
SCREENSHOTS = Path(os.environ.get(
        'E2E_SCREENSHOTS', ROOT / 'var' / 'screenshots'))
DATABASE = 'e2e'  # tests/conftest.py builds and serves it
TIMEOUT = 20_000


def _missing():
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed"
    if not (SAO / 'index.html').exists():
        return "the web client is not installed (make web)"


if (reason := _missing()):
    if os.environ.get('E2E_REQUIRED') == '1':
        raise RuntimeError(f"Browser test required but {reason}")
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope='module')
def server(demo_server):
    "The demo database served by trytond (tests/conftest.py)"
    return demo_server.url, demo_server.password


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=['--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'])
        yield browser
        browser.close()


def _login(page, url, login, password):
    from playwright.sync_api import expect
    page.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)
    page.goto(f'{url}/#{DATABASE}')
    page.locator('.login-dialog input#login').fill(login)
    page.locator('.login-dialog button[type=submit]').click()
    password_input = page.locator('.ask-dialog input[name="password"]')
    password_input.fill(password)
    password_input.press('Enter')
    expect(page.locator('#user-preferences')).to_be_visible()


def _menu_row(page, title, depth):
    row = page.locator('#menu tbody tr').filter(
        has=page.locator(f'.column-char[title="{title}"]'))
    if depth:
        # sao indents the expander of a child by its depth
        row = row.filter(has=page.locator(
                f'.expander img[style*="margin-left: {depth}em"]'))
    return row.first


def _open_menu(page, *path):
    "Open the menu entry at path; a title may repeat at another depth"
    from playwright.sync_api import expect
    for depth, title in enumerate(path[:-1]):
        child = _menu_row(page, path[depth + 1], depth + 1)
        if not child.is_visible():
            _menu_row(page, title, depth).locator('.expander').click()
        expect(child).to_be_visible()
    _menu_row(page, path[-1], len(path) - 1).locator('.column-char').click()


def _type(field, text, shown=None):
    """Type text into a field and leave it; the web client may give the
    focus back to a field it is still updating, so type again until the
    field shows it (shown: how the client formats it)."""
    from playwright.sync_api import expect
    # On a loaded machine the answer to an earlier change (e.g. of the
    # milestone's project) may come after the typing and reset the field
    for _ in range(6):
        field.fill(text)
        field.press('Tab')
        try:
            expect(field).to_have_value(shown or text, timeout=3_000)
            return
        except AssertionError:
            continue
    expect(field).to_have_value(shown or text)


def _pick(page, field, text, value):
    "Type text into a relation field and pick value from its completion"
    from playwright.sync_api import expect
    item = page.locator(
        '.dropdown-menu:visible li', has_text=value).first
    for _ in range(3):
        field.fill(text)
        try:
            item.click(timeout=3_000)
            break
        except Exception:
            # the completion came before the form was ready: type again
            field.fill('')
    expect(field).to_have_value(value)


def _click(tab, label):
    "Click the button labelled label on the current form"
    tab.locator('button', has_text=label).click()


def _active_tab(page, title):
    "The active tab, once it is the one titled title"
    from playwright.sync_api import expect
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('.title-long')).to_contain_text(title)
    return tab


def _state(tab):
    return tab.locator('select[name="state"]')


def _press(tab, label, state):
    """Click the workflow button labelled label until the record is in state;
    a click the web client swallowed while it was still loading the record
    is repeated."""
    from playwright.sync_api import expect
    button = tab.locator('button', has_text=label)
    for _ in range(3):
        button.click()
        try:
            expect(_state(tab)).to_have_value(state, timeout=10_000)
            return
        except AssertionError:
            if not button.is_visible():
                break
    expect(_state(tab)).to_have_value(state)


def _shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f'{name}.png'))


def test_customer_view(server, browser):
    "Open the CRM menu, the customers by stage and one customer's CRM page"
    from playwright.sync_api import expect
    url, password = server
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    _login(page, url, 'admin', password)

    menu = page.locator('#menu')
    expect(menu).to_contain_text("CRM")
    _open_menu(page, "CRM", "Customers")
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('.title-long')).to_contain_text("Customers")

    tab.locator('.nav-tabs a', has_text="Leads").first.click()
    row = tab.locator('.treeview tbody tr', has_text="Müller Maschinenbau")
    expect(row).to_have_count(1)
    _shot(page, 'customers')
    row.locator('td[data-title="Name: "]').dblclick()
    expect(tab.locator('input[name="name"]')).to_have_value(
        "Müller Maschinenbau GmbH")
    tab.locator('.nav-tabs a', has_text="CRM").first.click()
    expect(tab.locator('select[name="lifecycle_stage"]').first).to_have_value(
        '"lead"')
    expect(tab.locator('input[name="crm_open_opportunities"]').first
        ).to_have_value(
        '1')
    expect(tab.locator('.treeview', has_text="Stage Change").first
        ).to_be_visible()
    _shot(page, 'customer-crm-page')

    # Log Activity: one call, with the customer filled in
    subject = "Asked for the delivery date"
    tab.locator('button', has_text="Log Activity").click()
    dialog = page.locator('.modal-dialog', has_text="Subject").last
    expect(dialog.locator('input[name="party"]')).to_have_value(
        "Müller Maschinenbau GmbH")
    _type(dialog.locator('input[name="subject"]'), subject)
    _click(dialog, "Log")
    expect(dialog).to_be_hidden()
    timeline = tab.locator('.treeview', has_text="Stage Change").first
    row = timeline.locator('tbody tr', has_text=subject)
    expect(row).to_have_count(1)

    # a row opens its document: its form names it and has Open Document,
    # as has the row itself
    row.locator('td', has_text=subject).first.dblclick()
    dialog = page.locator('.modal-dialog', has_text="Open Document").last
    expect(dialog.locator('input[name="description"]')).to_have_value(
        subject)
    _click(dialog, "Close")
    expect(dialog).to_be_hidden()
    row.locator('button', has_text="Open Document").click()
    document = _active_tab(page, "CRM Activity")
    expect(document.locator('input[name="subject"]')).to_have_value(subject)
    _shot(page, 'customer-timeline-document')


def test_new_contact_wizard(server, browser):
    "The New Contact wizard opens from the CRM menu"
    from playwright.sync_api import expect
    url, password = server
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    _login(page, url, 'admin', password)
    _open_menu(page, "CRM", "New Contact")
    dialog = page.locator('.modal-dialog', has_text="Organisation").last
    # Typing before the defaults arrive would be overwritten.
    expect(dialog.locator('input[name="employee"]').first).to_have_value(
        "Sabine Vertrieb")
    # The channel first: a select takes no keyboard focus. The web client
    # may give the focus back to a field once its change is processed, so
    # only one text field is typed and checked before recording.
    dialog.locator('select[name="channel"]').select_option('"trade_fair"')
    organisation = dialog.locator('input[name="organisation"]')
    organisation.fill("Neumann Antriebe GmbH")
    organisation.press('Tab')
    expect(organisation).to_have_value("Neumann Antriebe GmbH")
    expect(dialog.locator('select[name="channel"]')).to_have_value(
        '"trade_fair"')
    _shot(page, 'new-contact')
    dialog.locator('button', has_text="Record").click()
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('input[name="name"]')).to_have_value(
        "Neumann Antriebe GmbH")
    expect(tab.locator('.treeview', has_text="First contact").first
        ).to_be_visible()
    _shot(page, 'new-contact-recorded')

    # A known organisation: the wizard lists it with why it matches, and
    # the contact is recorded on the chosen one, no second party is made
    _open_menu(page, "CRM", "New Contact")
    dialog = page.locator('.modal-dialog', has_text="Organisation").last
    expect(dialog.locator('input[name="employee"]').first).to_have_value(
        "Sabine Vertrieb")
    dialog.locator('select[name="channel"]').select_option('"phone"')
    _type(dialog.locator('input[name="organisation"]'),
        "Müller Maschinenbau GmbH")
    expect(dialog.locator('select[name="channel"]')).to_have_value(
        '"phone"')
    dialog.locator('button', has_text="Record").click()
    dialog = page.locator('.modal-dialog', has_text="Record on Chosen").last
    candidate = dialog.locator(
        '.treeview tbody tr', has_text="Müller Maschinenbau GmbH").first
    expect(candidate).to_contain_text("Name")
    use = candidate.locator('td[data-title="Use: "] input[type="checkbox"]')
    for _ in range(3):
        # the first click may only select the row of the editable list
        use.click()
        try:
            expect(use).to_be_checked(timeout=3_000)
            break
        except AssertionError:
            continue
    expect(dialog.locator('select[name="party"] option:checked')
        ).to_have_text("Müller Maschinenbau GmbH")
    _shot(page, 'new-contact-duplicate')
    _click(dialog, "Record on Chosen")
    expect(dialog).to_be_hidden()
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('input[name="name"]')).to_have_value(
        "Müller Maschinenbau GmbH")


def test_service_dashboard(server, browser):
    "A demo user (German) sees the dashboard of the service desk"
    from playwright.sync_api import expect
    url, _ = server
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    # tools/demo_db.py: DEMO_PASSWORD, the same for every demo user
    _login(page, url, 'service', 'Muster-2026')
    _open_menu(page, "Dashboard")
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('.nav-tabs a', has_text="Meine Tickets").first
        ).to_be_visible()
    breached = tab.locator('.nav-tabs a', has_text="SLA verletzt").first
    expect(breached).to_be_visible()
    expect(breached).to_contain_text("1")
    _shot(page, 'service-dashboard')


def test_my_calendar(server, browser):
    "A salesperson (German) opens her calendar of activities from the menu"
    from playwright.sync_api import expect
    url, _ = server
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    _login(page, url, 'vertrieb', 'Muster-2026')
    _open_menu(page, "CRM", "Mein Kalender")
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('.title-long')).to_contain_text("Mein Kalender")
    expect(tab.locator('.fc-view').first).to_be_visible()
    _shot(page, 'my-calendar')


def test_reports(server, browser):
    """A salesperson (German) reads the conversion of her first contacts and
    the weighted pipeline, as lists and charts labelled in German"""
    from playwright.sync_api import expect
    url, _ = server
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
    _login(page, url, 'vertrieb', 'Muster-2026')

    _open_menu(page, "CRM", "Auswertungen", "Konversion nach Kanal")
    tab = _active_tab(page, "Konversion nach Kanal")
    row = tab.locator('.treeview tbody tr', has_text="Messe").first
    expect(row).to_be_visible()
    tab.locator('[title="Ansicht wechseln"]').first.click()
    chart = tab.locator('svg').first
    expect(chart).to_contain_text("Messe")
    expect(chart).not_to_contain_text("trade_fair")
    _shot(page, 'report-conversion-channel')

    _open_menu(page, "CRM", "Auswertungen", "Gewichtete Pipeline-Prognose")
    tab = _active_tab(page, "Gewichtete Pipeline-Prognose")
    expect(tab.locator('.treeview tbody tr').first).to_be_visible()
    _shot(page, 'report-forecast-list')
    tab.locator('[title="Ansicht wechseln"]').first.click()
    expect(tab.locator('svg').first).to_be_visible()
    _shot(page, 'report-forecast-chart')


def test_whole_story(server, browser):
    """The lifecycle in German, as the departments work it: sales records a
    fair contact and turns it into a confirmed order, projects reach and
    invoice the milestone, service answers a ticket and hands it over to
    sales, and the customer's CRM page shows all of it."""
    import re

    from playwright.sync_api import expect
    url, _ = server
    customer = "Quandt Verfahrenstechnik GmbH"
    contact = "Jana Quandt <jana.quandt@quandt.example>"
    project = "Montagelinie in Betrieb nehmen"
    viewport = {'width': 1600, 'height': 1000}

    # Sales: the fair contact, with an opportunity, through the wizard
    page = browser.new_page(viewport=viewport)
    _login(page, url, 'vertrieb', 'Muster-2026')
    _open_menu(page, "CRM", "Neuer Kontakt")
    dialog = page.locator('.modal-dialog', has_text="Organisation").last
    expect(dialog.locator('input[name="employee"]').first).to_have_value(
        "Sabine Vertrieb")
    dialog.locator('select[name="channel"]').select_option('"trade_fair"')
    _type(dialog.locator('input[name="organisation"]'), customer)
    _type(dialog.locator('input[name="person"]'), "Jana Quandt")
    _type(dialog.locator('input[name="email"]'),
        "jana.quandt@quandt.example")
    _pick(page, dialog.locator('input[name="event"]'), "Hannover",
        "Hannover Messe 2026")
    _type(dialog.locator('textarea[name="note"]'),
        "Am Stand: Montagelinie für das neue Werk, Inbetriebnahme im "
        "Frühjahr.")
    dialog.locator('input[name="create_opportunity"]').check()
    _type(dialog.locator('input[name="description"]'), project)
    _type(dialog.locator('input[name="amount"]:visible'), "12000",
        "12.000,00")
    expect(dialog.locator('select[name="channel"]')).to_have_value(
        '"trade_fair"')
    _shot(page, 'story-1-fair-contact')
    _click(dialog, "Erfassen")
    tab = page.locator('#tabcontent > .tab-pane.active')
    expect(tab.locator('input[name="name"]')).to_have_value(customer)
    expect(tab.locator('select[name="lifecycle_stage"]').first
        ).to_have_value('"lead"')

    # ... the opportunity gets its hours and becomes a quotation
    _open_menu(page, "CRM", "Leads und Verkaufschancen")
    tab = _active_tab(page, "Leads und Verkaufschancen")
    row = tab.locator('.treeview tbody tr', has_text=project)
    expect(row).to_have_count(1)
    row.locator('td[data-title="Startdatum: "]').dblclick()
    expect(tab.locator('input[name="description"]')).to_have_value(project)
    tab.locator('.nav-tabs a', has_text="Positionen").click()
    tab.locator('.tab-pane.active button[title="Neu"]').click()
    line = page.locator('.modal-dialog').last
    _pick(page, line.locator('input[name="product"]'), "Inbetrieb",
        "Inbetriebnahme und Schulung")
    _type(line.locator('input[name="quantity"]:visible'), "100", "100,00")
    expect(line.locator('input[name="unit"]')).to_have_value("Stunde")
    line.locator('button', has_text="Hinzufügen").last.click()
    expect(tab.locator('.tab-pane.active .treeview tbody tr',
            has_text="Inbetriebnahme und Schulung")).to_have_count(1)
    _press(tab, "In Verkaufschance umwandeln", '"opportunity"')
    _click(tab, "In Verkauf umwandeln")

    # ... the sale opens in its own tab: quote and confirm it
    tab = _active_tab(page, "Verkauf")
    row = tab.locator('.treeview tbody tr', has_text=customer)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("12.000,00")
    row.locator('td[data-title="Status: "]').dblclick()
    expect(tab.locator('input[name="description"]')).to_have_value(project)
    _press(tab, "Angebot", '"quotation"')
    _press(tab, "Bestätigen", '"processing"')
    expect(tab.locator('input[name="untaxed_amount"]:visible')
        ).to_have_value("12.000,00")
    _shot(page, 'story-2-order')
    page.close()

    # Projects: the order made the project; its milestone is reached,
    # accepted by the customer's contact and invoiced
    page = browser.new_page(viewport=viewport)
    _login(page, url, 'projekt', 'Muster-2026')
    _open_menu(page, "CRM", "Projekte", "Meilensteine")
    tab = _active_tab(page, "Meilensteine")
    expect(tab.locator('.treeview tbody tr').first).to_be_visible()
    tab.locator('button[title="Neu"]').first.click()
    _pick(page, tab.locator('input[name="project"]'), "Montagelinie",
        project)
    _type(tab.locator('input[name="name"]'), "Abnahme der Montagelinie")
    expect(tab.locator('select[name="amount_type"]')).to_have_value(
        '"percentage"')
    _type(tab.locator('input[name="percentage"]:visible'), "100", "100,00")
    _press(tab, "Als erreicht melden", '"reached"')
    expect(tab.locator('input[name="amount"]:visible')).to_have_value(
        "12.000,00")
    _pick(page, tab.locator('input[name="accepted_by"]'), "Jana", contact)
    _press(tab, "Abnehmen", '"accepted"')
    _click(tab, "Rechnung erstellen")
    expect(_state(tab)).to_have_value('"invoiced"')
    expect(tab.locator('input[name="invoiced_amount"]:visible')
        ).to_have_value("12.000,00")
    expect(tab.locator('input[name="invoice"]')).not_to_have_value("")
    _shot(page, 'story-3-milestone-invoiced')
    page.close()

    # Service: a ticket for the customer, answered and handed over
    page = browser.new_page(viewport=viewport)
    _login(page, url, 'service', 'Muster-2026')
    _open_menu(page, "CRM", "Service-Tickets")
    tab = _active_tab(page, "Service-Tickets")
    expect(tab.locator('.treeview tbody tr').first).to_be_visible()
    tab.locator('button[title="Neu"]').first.click()
    # who records the ticket takes it, with their team
    expect(tab.locator('input[name="assignee"]')).to_have_value(
        "Svenja Service")
    expect(tab.locator('input[name="team"]')).to_have_value("Hotline")
    _type(tab.locator('input[name="title"]'),
        "Schulung für die zweite Schicht gewünscht")
    _pick(page, tab.locator('input[name="party"]'), "Quandt", customer)
    _press(tab, "Öffnen", '"open"')
    expect(tab.locator('input[name="number"]')).not_to_have_value("")
    _click(tab, "Antworten")
    expect(tab.locator('button', has_text="Antworten")).to_be_hidden()
    tab.locator('.nav-tabs a').filter(has_text=re.compile(r'^SLA$')).click()
    expect(tab.locator('input[name="first_response_date"]')
        ).not_to_have_value("")
    expect(tab.locator('select[name="sla_state"]')).to_have_value(
        '"on_track"')
    _click(tab, "An Vertrieb übergeben")
    expect(tab.locator('button', has_text="An Vertrieb übergeben")
        ).to_be_hidden()
    tab.locator('.nav-tabs a', has_text="Wiedervorlage").click()
    expect(tab.locator('input[name="opportunity"]')).to_be_visible()
    expect(tab.locator('input[name="opportunity"]')).not_to_have_value("")
    _shot(page, 'story-4-ticket-handed-over')
    page.close()

    # Sales again: the customer's CRM page tells the whole story
    page = browser.new_page(viewport=viewport)
    _login(page, url, 'vertrieb', 'Muster-2026')
    _open_menu(page, "CRM", "Kunden")
    tab = _active_tab(page, "Kunden")
    tab.locator('.nav-tabs a', has_text="Kunden").first.click()
    row = tab.locator('.treeview tbody tr', has_text=customer)
    expect(row).to_have_count(1)
    row.locator('td[data-title="Name: "]').dblclick()
    expect(tab.locator('input[name="name"]')).to_have_value(customer)
    expect(tab.locator('select[name="lifecycle_stage"]').first
        ).to_have_value('"customer"')
    expect(tab.locator('select[name="crm_channel"]')).to_have_value(
        '"trade_fair"')
    expect(tab.locator('input[name="crm_event"]')).to_have_value(
        "Hannover Messe 2026")
    # the hand-over is the open opportunity, the order counts this year
    expect(tab.locator('input[name="crm_open_opportunities"]:visible')
        ).to_have_value("1")
    expect(tab.locator('input[name="crm_open_quotations"]:visible')
        ).to_have_value("0")
    expect(tab.locator('input[name="crm_orders_year_amount"]:visible')
        ).to_have_value("12.000,00")
    timeline = tab.locator('.treeview', has_text="Phasenwechsel").first
    for kind, text in [
            ("Besprechung", "Erstkontakt: Messe Hannover Messe 2026"),
            ("Phasenwechsel", "Kontakt → Lead"),
            ("Phasenwechsel", "Lead → Angeboten"),
            ("Phasenwechsel", "Angeboten → Kunde"),
            ("Verkaufschance", project),
            ("Angebot / Auftrag", project),
            ("Meilenstein", "Abnahme der Montagelinie"),
            ("Rechnung", "Abnahme der Montagelinie"),
            ("Service-Ticket", "Schulung für die zweite Schicht"),
            ("Anruf", "Antwort auf"),
            ("Verkaufschance", "Schulung für die zweite Schicht"),
            ]:
        expect(timeline.locator('tbody tr', has_text=kind).filter(
                has_text=text)).to_have_count(1)
    _shot(page, 'story-5-customer')
    page.close()
