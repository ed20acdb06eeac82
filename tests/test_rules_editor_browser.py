"""The rules editor in a real browser (issue 19): a code editor with line numbers and YAML highlighting, the
validation problems as markers at their lines and as a list of links above it, on a 390 px phone and a 1,440 px
desktop, in English and in Polish; the page also works as a plain form without JavaScript; no Content-Security-
Policy violation. `REWARDS_SCREENSHOTS=1` saves docs/screenshots/rules-editor-*.png."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.test_browser import DESKTOP, PHONE, Server, browser, chromium, screenshots, server

__all__ = ["browser", "chromium", "screenshots", "server"]  # fixtures, shared with the other browser tests

GOOD_LINE = "    when: actor != post.author"
BAD_LINE = "    when: actor = post.author"


@dataclass(frozen=True)
class Words:
    """What the page says, in each language (rewards/locales/*/LC_MESSAGES/messages.po)."""

    rules: str
    validate: str
    valid: str
    line: str
    publish: str
    comment: str
    listing: str
    find: str


WORDS = {
    "en": Words(
        rules="Rules (YAML)",
        validate="Validate",
        valid="The draft is valid.",
        line="Line",
        publish="Publish",
        comment="Comment (why; shown in the history and the audit log)",
        listing="The draft with its line numbers",
        find="Find",
    ),
    "pl": Words(
        rules="Reguły (YAML)",
        validate="Sprawdź",
        valid="Szkic jest poprawny.",
        line="Wiersz",
        publish="Opublikuj",
        comment="Komentarz (dlaczego; widoczny w historii i w dzienniku audytu)",
        listing="Szkic z numerami wierszy",
        find="Znajdź",
    ),
}

# Scripts of the page that report any Content-Security-Policy violation (Playwright's own scripts are exempt).
WATCH_CSP = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.target.outerHTML?.slice(0, 200)}`);
});
"""


async def manager_page(
    browser: Browser, server: Server, viewport: ViewportSize, locale: str, *, javascript: bool = True
) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if viewport == PHONE else 1,
        is_mobile=viewport == PHONE,
        has_touch=viewport == PHONE,
        locale="pl-PL" if locale == "pl" else "en-GB",
        timezone_id="Europe/Warsaw",
        java_script_enabled=javascript,
    )
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{server.url}/language/{locale}")
    await page.goto(f"{server.url}/dev/signin?next=/admin/rules/edit")
    await page.locator("button[name=who][value=manager]").click()
    await page.wait_for_url(f"{server.url}/admin/rules/edit")
    return context, page, errors


async def published_draft(page: Page, server: Server) -> str:
    """The editor's text as the server sends it: the published rules."""
    await page.goto(f"{server.url}/admin/rules/edit")
    return await page.locator("textarea[name=source]").input_value()


def line_of(source: str, text: str) -> int:
    """The number of the first line that starts with the text."""
    return next(number for number, line in enumerate(source.splitlines(), start=1) if line.startswith(text))


async def gutter_top(page: Page, gutter: str, selector: str) -> float:
    box = await page.locator(f".cm-gutter.{gutter} {selector}").first.bounding_box()
    assert box is not None
    return box["y"]


async def no_csp_violation(page: Page, errors: list[str]) -> None:
    assert await page.evaluate("window.__violations") == []
    assert [error for error in errors if "Content Security Policy" in error or "Refused" in error] == []


@pytest.mark.parametrize(
    ("viewport", "locale", "name"),
    [
        (PHONE, "en", "phone-en"),
        (PHONE, "pl", "phone-pl"),
        (DESKTOP, "en", "desktop-en"),
        (DESKTOP, "pl", "desktop-pl"),
    ],
)
async def test_the_editor_numbers_lines_marks_problems_at_their_line_and_saves_the_edited_text(
    server: Server, browser: Browser, screenshots: Path | None, viewport: ViewportSize, locale: str, name: str
) -> None:
    words = WORDS[locale]
    context, page, errors = await manager_page(browser, server, viewport, locale)
    source = await page.locator("textarea[name=source]").input_value()
    number = line_of(source, GOOD_LINE)

    # A code editor replaced the textarea: line numbers, YAML highlighting, lines never soft-wrapped.
    editor = page.get_by_test_id("rules-editor")
    active_line = editor.locator(".cm-lineNumbers .cm-activeLineGutter")
    await expect(editor).to_be_visible()
    await expect(page.locator("textarea[name=source]")).to_be_hidden()
    content = page.get_by_label(words.rules)
    await expect(content).to_have_attribute("contenteditable", "true")
    await expect(editor.locator(".cm-lineNumbers .cm-gutterElement", has_text="1").first).to_be_visible()
    await expect(editor.locator(".cm-line").first).to_have_text(source.splitlines()[0])
    assert await editor.locator(".cm-line span[class]").count() > 10  # keys, values and comments are coloured
    assert "cm-lineWrapping" not in (await content.get_attribute("class") or "")
    box = await editor.bounding_box()
    assert box is not None and 250 <= box["height"] <= viewport["height"]  # it fits the screen
    assert box["width"] <= viewport["width"]

    # The manager finds the line with the editor's search (in the page's language) and breaks it.
    await editor.locator(".cm-line").first.click()
    await page.keyboard.press("Control+f")
    await expect(page.get_by_placeholder(words.find, exact=True)).to_be_focused()
    await page.keyboard.type("actor != post.author")
    await page.keyboard.press("Enter")
    await page.keyboard.press("Escape")
    await expect(active_line).to_have_text(str(number))
    await page.keyboard.type("actor = post.author")
    await page.get_by_role("button", name=words.validate, exact=True).click()

    # The editor is where it was, at the faulty line, with a marker beside it; the list above links to it.
    problems = page.locator("#problems")
    await expect(problems).to_be_visible()
    link = problems.get_by_role("link", name=f"{words.line} {number}", exact=True)
    await expect(link).to_be_visible()
    await expect(problems).to_contain_text("is not a valid expression")
    editor = page.get_by_test_id("rules-editor")
    active_line = editor.locator(".cm-lineNumbers .cm-activeLineGutter")
    box = await editor.bounding_box()
    assert box is not None and box["y"] < viewport["height"]  # not 8,000 px further down
    await expect(editor.locator(".cm-lintRange-error")).to_contain_text(BAD_LINE.strip())
    await expect(active_line).to_have_text(str(number))
    marker = editor.locator(".cm-gutter-lint .cm-lint-marker-error")
    await expect(marker).to_have_count(1)
    number_cell = editor.locator(".cm-lineNumbers .cm-gutterElement").get_by_text(str(number), exact=True)
    marker_box, number_box = await marker.bounding_box(), await number_cell.bounding_box()
    assert marker_box is not None and number_box is not None
    assert abs((marker_box["y"] + marker_box["height"] / 2) - (number_box["y"] + number_box["height"] / 2)) < 4
    if viewport == PHONE:  # long lines scroll sideways instead of wrapping
        assert await editor.locator(".cm-scroller").evaluate("s => s.scrollWidth > s.clientWidth")
    if screenshots:
        await page.screenshot(path=screenshots / f"rules-editor-{name}.png")

    # The link jumps to the line: the cursor (and the keyboard focus) is on it.
    await page.get_by_label(words.rules).focus()
    await page.keyboard.press("Control+Home")  # somewhere else first
    await expect(active_line).to_have_text("1")
    await link.click()
    await expect(active_line).to_have_text(str(number))
    await expect(page.get_by_label(words.rules)).to_be_focused()

    # Fixed (the selection is the faulty line), noted, published: the edited text is what the server keeps.
    note = f"# checked in the editor ({name})"
    await page.keyboard.type(f"{GOOD_LINE}  {note}")
    await page.get_by_role("button", name=words.validate, exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(words.valid)
    await page.get_by_label(words.comment).fill(f"Editor test {name}")
    await page.get_by_role("button", name=words.publish, exact=True).click()
    await expect(page.get_by_test_id("published-notice")).to_be_visible()
    await no_csp_violation(page, errors)
    lines = source.splitlines(keepends=True)
    lines[number - 1] = f"{GOOD_LINE}  {note}\n"
    assert await published_draft(page, server) == "".join(lines)  # that line changed, nothing else
    await no_csp_violation(page, errors)
    # The one error the console shows: the browser logs the answer to a faulty draft (422) as a failed load.
    assert [error for error in errors if "status of 422" not in error] == []
    await context.close()


@pytest.mark.parametrize(("viewport", "locale", "name"), [(PHONE, "pl", "phone-pl"), (DESKTOP, "en", "desktop-en")])
async def test_without_javascript_the_page_is_a_form_that_validates_and_saves(
    server: Server, browser: Browser, screenshots: Path | None, viewport: ViewportSize, locale: str, name: str
) -> None:
    words = WORDS[locale]
    context, page, _errors = await manager_page(browser, server, viewport, locale, javascript=False)
    textarea = page.get_by_label(words.rules)
    await expect(textarea).to_be_visible()
    await expect(textarea).to_have_attribute("wrap", "off")
    await expect(page.get_by_test_id("rules-editor")).to_have_count(0)
    source = await textarea.input_value()
    number = line_of(source, GOOD_LINE)
    box = await textarea.bounding_box()
    assert box is not None and 250 <= box["height"] <= viewport["height"]

    await textarea.fill(source.replace(GOOD_LINE, BAD_LINE, 1))
    await page.get_by_role("button", name=words.validate, exact=True).click()
    problems = page.locator("#problems")
    await expect(problems).to_contain_text("is not a valid expression")
    # The draft stays in the textarea, right below the list (no whole draft in between).
    textarea = page.get_by_label(words.rules)
    assert BAD_LINE in await textarea.input_value()
    await expect(page.get_by_text(words.listing, exact=True)).to_be_visible()
    row = page.locator(f"#line-{number}")
    await expect(row).to_be_hidden()  # the numbered listing is folded until a link opens it
    box = await textarea.bounding_box()
    assert box is not None and box["y"] < 2 * viewport["height"]
    await problems.get_by_role("link", name=f"{words.line} {number}", exact=True).click()
    await expect(row).to_be_visible()
    await expect(row).to_have_class("problem")
    await expect(row).to_contain_text(BAD_LINE.strip())
    if screenshots:
        await page.screenshot(path=screenshots / f"rules-editor-nojs-{name}.png")

    note = f"# checked without JavaScript ({name})"
    edited = source.replace(GOOD_LINE, f"{GOOD_LINE}  {note}", 1)
    await textarea.fill(edited)
    await page.get_by_role("button", name=words.validate, exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(words.valid)
    await page.get_by_label(words.comment).fill(f"Form test {name}")
    await page.get_by_role("button", name=words.publish, exact=True).click()
    await expect(page.get_by_test_id("published-notice")).to_be_visible()
    assert await published_draft(page, server) == edited
    await context.close()
