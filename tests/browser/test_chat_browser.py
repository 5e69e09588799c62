"""The chat page in headless Chromium against a real Daphne process, Redis and PostgreSQL.

The language model is the scripted OpenAI-compatible server from conftest, streaming slowly
enough that tokens can be seen arriving.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.processes import Daphne
from tests.services import database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
SCREENSHOT = SCREENSHOTS / "chat-answered.png"
AXE = Path(settings.BASE_DIR) / "var" / "test-static" / "axe-4.11.0.min.js"  # scripts/install-browser.sh
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
HOSTILE = "<img src=x onerror=\"document.title='hacked'\"><script>document.title='hacked'</script>"
LEAVE = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per calendar year. "
    f"Book leave in PeopleHub {HOSTILE} under Time Off."
)
PAY = "# Pay\n\n## Salary bands\n\nGrade C3 earns 46,000 to 58,000 EUR."

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (scripts/install-browser.sh installs them)",
        allow_module_level=True,
    )


@pytest.fixture
def server(llm_settings):
    llm_settings.delay_s = 0.3
    env = dict(
        os.environ,
        DATABASE_URL=database_url_for(connection.settings_dict["NAME"]),
        LLM_BASE_URL=llm_settings.url,
        LLM_MODEL="scripted",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    daphne = Daphne(env)
    daphne.start()
    yield daphne
    daphne.stop()


def chrome(*, phone: bool = False):
    """Desktop at 1366×900, or a phone (390×844, touch) as Chrome's device emulation makes one."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(argument)
    if phone:
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1, "touch": True}}
        )
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


@pytest.fixture
def browser():
    driver = chrome()
    yield driver
    driver.quit()


@pytest.fixture
def phone():
    driver = chrome(phone=True)
    yield driver
    driver.quit()


def accessibility_problems(driver) -> list[str]:
    """What axe-core reports on the page as it is now (contrast, labels, names, tap targets…)."""
    if not AXE.exists():
        return []
    driver.execute_script(AXE.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: arguments[0]}).then(r => done(r.violations.map(v =>"
        " v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
        AXE_RULES,
    )
    return found


def skip_if_unchecked() -> None:
    """At a test's end, so that everything else in it still ran."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (scripts/install-browser.sh fetches it with npm)")


def in_view(driver, css: str) -> bool:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth && r.height > 0;",
        css,
    )


def wait(driver, predicate, timeout_s: float = 30):
    """An element found while the page is being replaced (after a delete's redirect) is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout_s, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda d: predicate(d))


def log_in(driver, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(base + "/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.ID, "question"))


def ask(driver, question: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "question")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)


def test_ask_see_tokens_and_citations_open_one_and_no_access_for_others(server, browser, people, ingest, llm_settings):
    from selenium.webdriver.common.by import By

    ingest("leave.md", LEAVE)
    pay = ingest("pay.md", PAY, groups=[people.managers])
    # A document's own HTML, quoted by the model, must stay text; a made-up marker is removed.
    tokens = ["Full-time employees receive ", "**25 days** of paid ", "annual leave [1]. ",
              f"Book leave in PeopleHub {HOSTILE} under Time Off [1]. ", "See [9]."]  # fmt: skip
    llm_settings.tokens = tokens
    llm_settings.delay_s = 0.3
    log_in(browser, server.url, "alice", "pw-alice-123")
    ask(browser, "How many days of annual leave do I get?")

    partial = wait(browser, lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, ".answer.streaming") if a.text])
    assert partial[0].startswith("Full-time") and "PeopleHub" not in partial[0], "checked sentences arrive one by one"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".turn .actions"))
    answer = browser.find_element(By.CSS_SELECTOR, ".answer")
    assert answer.find_element(By.TAG_NAME, "strong").text == "25 days", "Markdown is rendered"
    assert "<img src=x" in answer.text and not answer.find_elements(By.TAG_NAME, "img"), "model HTML stays text"
    assert browser.title != "hacked"
    assert "[9]" not in answer.text, "a marker naming no given passage is removed"
    assert {m.text for m in answer.find_elements(By.CSS_SELECTOR, ".marker")} == {"[1]"}
    assert not answer.find_elements(By.CSS_SELECTOR, ".flagged"), "only sentences the passage supports are shown"
    source = browser.find_element(By.CSS_SELECTOR, ".source")
    assert "Leave" in source.text and "Annual leave" in source.text
    assert any("25 days" in m.text for m in source.find_elements(By.TAG_NAME, "mark")), "supporting words marked"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    conversation_url = browser.current_url
    source_text = source.text
    source.find_element(By.CSS_SELECTOR, "a").click()
    wait(browser, lambda d: "/documents/" in d.current_url)
    anchor = browser.current_url.split("#")[1]
    assert "25 days of paid annual leave" in browser.find_element(By.ID, anchor).text

    browser.get(conversation_url)  # the stored answer's cards, drawn by the same code as a new answer's
    stored = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".source"))[0]
    assert stored.text == source_text
    assert "/documents/" in stored.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
    assert any("25 days" in m.text for m in stored.find_elements(By.TAG_NAME, "mark"))
    assert {m.text for m in browser.find_elements(By.CSS_SELECTOR, ".answer .marker")} == {"[1]"}

    log_in(browser, server.url, "bob", "pw-bob-123")
    browser.get(f"{server.url}/documents/{pay.pk}/")
    assert "Grade C3" not in browser.page_source and "Not Found" in browser.page_source
    browser.get(conversation_url)
    assert "25 days" not in browser.page_source and "Not Found" in browser.page_source


def test_a_question_typed_while_the_server_is_down_is_sent_when_it_is_back(server, browser, people, ingest):
    from selenium.webdriver.common.by import By

    ingest("leave.md", LEAVE)
    log_in(browser, server.url, "bob", "pw-bob-123")
    server.stop()
    wait(browser, lambda d: "reconnecting" in d.find_element(By.ID, "status").text.lower())
    ask(browser, "How many days of annual leave do I get?")
    assert "will be sent" in browser.find_element(By.ID, "status").text
    server.start()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".turn .actions"), timeout_s=60)
    assert browser.find_element(By.CSS_SELECTOR, ".turn .question").text == "How many days of annual leave do I get?"
    assert "/c/" in browser.current_url


def watch_progress(driver) -> None:
    """Records every text the answers' status line shows, however briefly."""
    driver.execute_script(
        "window.progressSeen = [];"
        "new MutationObserver(() => { for (const p of document.querySelectorAll('.progress'))"
        " if (!window.progressSeen.includes(p.textContent)) window.progressSeen.push(p.textContent); })"
        ".observe(document.getElementById('thread'), {subtree: true, childList: true, characterData: true});"
    )


def long_conversation(user, answers: int = 14):
    """A conversation longer than any screen, with one answer the support check did not confirm."""
    from chat.models import Citation, Conversation, Message
    from knowledge.models import Chunk

    chunk = Chunk.objects.filter(document__title="Leave").first()
    conversation = Conversation.objects.create(user=user, title="Leave questions")
    for n in range(answers):
        Message.objects.create(
            conversation=conversation, question=f"Question {n} about leave?", status="complete",
            answer="Full-time employees receive 25 days of paid annual leave [1].\n\n" + "More words. " * 40,
        )  # fmt: skip
    checked = Message.objects.create(
        conversation=conversation,
        question="How many days do I get?",
        status="complete",
        answer="Full-time employees receive 30 days of paid annual leave [1].\n\nLeave: in force since 1 January 2026.",
        support=[
            {
                "start": 0,
                "end": 61,
                "markers": [1],
                "verdict": "unsupported",
                "similarity": 0.4,
                "unsupported_numbers": ["30"],
            }
        ],  # fmt: skip
        version_note="Leave: in force since 1 January 2026.",
    )
    Citation.objects.create(
        message=checked, marker=1, chunk=chunk, document=chunk.document, document_title="Leave",
        heading_path=chunk.heading_path, quote=chunk.text, highlights=[],
    )  # fmt: skip
    Message.objects.create(
        conversation=conversation, question="Who won the 1998 world cup?", status="complete",
        answer="The documents you may read do not cover this.",
    )  # fmt: skip
    return conversation


def test_the_shell_status_line_cues_and_inline_flows_on_a_desktop(server, browser, people, ingest, llm_settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from chat.models import Conversation, Message

    ingest("leave.md", LEAVE)
    llm_settings.tokens = ["Full-time employees receive ", "25 days of paid ", "annual leave [1]."]
    problems = {}
    log_in(browser, server.url, "bob", "pw-bob-123")
    assert browser.switch_to.active_element.get_attribute("id") == "question", "focus in the box after login"
    examples = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".example")]
    assert examples == ["What does “Leave” say about annual leave?"]
    problems["empty state"] = accessibility_problems(browser)

    watch_progress(browser)
    browser.find_element(By.CSS_SELECTOR, ".example").click()  # an example is asked as it is
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".turn .actions"))
    ask(browser, "And for part-time employees?")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn .actions")) == 2)
    seen = browser.execute_script("return window.progressSeen")
    assert seen[0] == "Searching your documents…" and "Writing…" in seen
    assert "Writing… (searched for “What does “Leave” say about annual leave, for part-time employees?”)" in seen
    assert not browser.find_elements(By.CSS_SELECTOR, ".progress"), "the status line goes when the answer is done"
    assert browser.find_element(By.ID, "conversation-title").text == "What does “Leave” say about annual leave?"
    problems["answered"] = accessibility_problems(browser)

    # Feedback in the page: a comment box, then a confirmation.
    browser.find_elements(By.XPATH, "//button[text()='Not helpful']")[-1].click()
    box = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".comment textarea"))[0]
    assert browser.switch_to.active_element == box
    box.send_keys("It should say how part-timers count days.")
    browser.find_element(By.XPATH, "//button[text()='Send feedback']").click()
    wait(browser, lambda d: "feedback was saved" in d.find_elements(By.CSS_SELECTOR, ".said")[-1].text)
    rated = Message.objects.get(question="And for part-time employees?")
    assert (rated.feedback, rated.feedback_comment) == ("down", "It should say how part-timers count days.")

    # Stop, then Retry.
    llm_settings.delay_s = 1.0
    ask(browser, "How many days of annual leave do full-time employees get?")
    wait(browser, lambda d: "Writing" in d.find_element(By.CSS_SELECTOR, ".progress").text)
    browser.find_element(By.ID, "stop").click()
    retry = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".retry"))[0]
    assert "Stopped" in browser.find_elements(By.CSS_SELECTOR, ".turn")[-1].text
    llm_settings.delay_s = 0.05
    retry.click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".turn")) == 4)
    wait(browser, lambda d: "Copy" in d.find_elements(By.CSS_SELECTOR, ".turn")[-1].text)
    assert "25 days" in browser.find_elements(By.CSS_SELECTOR, ".turn .answer")[-1].text

    # Rename in place, with a confirmation; the list follows.
    browser.find_element(By.ID, "rename-open").click()
    title = browser.find_element(By.ID, "title")
    assert browser.switch_to.active_element == title
    title.send_keys(Keys.CONTROL, "a")
    title.send_keys("Leave for part-timers", Keys.ENTER)
    wait(browser, lambda d: "Renamed to “Leave for part-timers”." in d.find_element(By.ID, "notice").text)
    assert browser.find_element(By.CSS_SELECTOR, ".history a[aria-current]").text == "Leave for part-timers"
    assert Conversation.objects.get(user=people.bob).title == "Leave for part-timers"

    # Delete asks in the page; "Keep it" keeps it.
    browser.find_element(By.ID, "delete-open").click()
    assert browser.find_element(By.ID, "delete-confirm").is_displayed()
    problems["delete confirmation"] = accessibility_problems(browser)
    browser.find_element(By.ID, "delete-cancel").click()
    assert not browser.find_element(By.ID, "delete-confirm").is_displayed()
    browser.find_element(By.ID, "delete-open").click()
    browser.find_element(By.ID, "delete-yes").click()
    wait(browser, lambda d: "Deleted “Leave for part-timers”." in d.find_element(By.ID, "notice").text)
    assert not Conversation.objects.filter(user=people.bob).exists()

    # A long conversation: the page does not scroll, the transcript does; header and box stay in view.
    long = long_conversation(people.bob)
    browser.get(f"{server.url}/c/{long.pk}/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".turn .actions"))
    assert browser.switch_to.active_element.get_attribute("id") == "question", "focus in the box on opening"
    assert in_view(browser, "#question") and in_view(browser, ".topbar") and in_view(browser, "#send")
    assert browser.execute_script("return document.scrollingElement.scrollHeight <= innerHeight + 1")
    thread = browser.find_element(By.ID, "thread")
    assert browser.execute_script("return arguments[0].scrollHeight > 3 * arguments[0].clientHeight", thread)
    assert in_view(browser, ".turn:last-child .question"), "opened at the latest answer"
    checked = browser.find_elements(By.CSS_SELECTOR, ".turn")[-2]
    parts = [e.get_attribute("class") for e in checked.find_elements(By.CSS_SELECTOR, ":scope > *")]
    assert parts[:3] == ["question", "warning", "answer"], "a failed check is said above the answer"
    assert "not backed by a cited passage" in checked.find_element(By.CSS_SELECTOR, ".warning").text
    assert "in force since" not in checked.find_element(By.CSS_SELECTOR, ".answer").text
    assert (
        checked.find_element(By.CSS_SELECTOR, ".sources + .version-line").text
        == "Leave: in force since 1 January 2026."
    )
    assert "Nothing highlighted" in checked.find_element(By.CSS_SELECTOR, ".source").text
    unsourced = browser.find_elements(By.CSS_SELECTOR, ".turn")[-1]
    assert "No source: this answer cites no passage" in unsourced.find_element(By.CSS_SELECTOR, ".warning").text
    problems["long conversation"] = accessibility_problems(browser)

    browser.get(f"{server.url}/search/?q=xqzv+blorptang")
    assert "No passages match" in browser.find_element(By.CSS_SELECTOR, "main").text
    problems["search without matches"] = accessibility_problems(browser)
    browser.get(f"{server.url}/search/?q=annual+leave")
    problems["search"] = accessibility_problems(browser)
    browser.get(f"{server.url}/c/{long.pk + 1000}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "404 Not Found"
    assert browser.find_element(By.LINK_TEXT, "Back to your conversations").get_attribute("href") == server.url + "/"
    problems["404"] = accessibility_problems(browser)
    assert not any(problems.values()), json.dumps(problems, indent=1)
    skip_if_unchecked()


def test_on_a_phone_the_conversations_are_a_drawer_and_the_answer_fits(server, phone, people, ingest, llm_settings):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ingest("leave.md", LEAVE)
    llm_settings.tokens = ["Full-time employees receive ", "25 days of paid ", "annual leave [1]."]
    llm_settings.delay_s = 0.05
    log_in(phone, server.url, "alice", "pw-alice-123")
    assert phone.execute_script("return innerWidth") == 390
    assert phone.find_element(By.CSS_SELECTOR, ".topbar").size["height"] < 60, "the top bar does not wrap"
    assert not phone.find_element(By.ID, "history").is_displayed(), "the list is a closed drawer"
    assert not phone.find_element(By.ID, "keys").is_displayed(), "no keyboard hints on a touch screen"
    ask(phone, "How many days of annual leave do I get?")
    wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, ".turn .actions"))
    assert in_view(phone, "#question") and in_view(phone, "#send")
    assert phone.execute_script("return document.scrollingElement.scrollWidth <= innerWidth"), "nothing sideways"
    problems = {"answered": accessibility_problems(phone)}
    phone.save_screenshot(str(SCREENSHOTS / "phone-answered.png"))

    toggle = phone.find_element(By.ID, "drawer-toggle")
    toggle.click()
    wait(phone, lambda d: d.find_element(By.ID, "history").is_displayed() and in_view(d, "#history"))
    assert toggle.get_attribute("aria-expanded") == "true"
    assert (
        phone.find_element(By.CSS_SELECTOR, ".history a[aria-current]").text
        == "How many days of annual leave do I get?"
    )
    problems["drawer"] = accessibility_problems(phone)
    assert phone.execute_script("return document.getElementById('chat').inert"), "focus cannot wander behind it"
    phone.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(phone, lambda d: not d.find_element(By.ID, "history").is_displayed())
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    wait(phone, lambda d: d.find_element(By.ID, "history").is_displayed())
    backdrop = phone.find_element(By.ID, "backdrop")  # a tap beside the drawer closes it
    ActionChains(phone).move_to_element_with_offset(backdrop, 170, 0).click().perform()
    wait(phone, lambda d: not d.find_element(By.ID, "history").is_displayed())
    assert not any(problems.values()), json.dumps(problems, indent=1)
    skip_if_unchecked()
