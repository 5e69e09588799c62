"""The chat page in headless Chromium against a real Daphne process, Redis and PostgreSQL.

The language model is the scripted OpenAI-compatible server from conftest, streaming slowly
enough that tokens can be seen arriving.
"""

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
SCREENSHOT = Path(settings.BASE_DIR) / "var" / "screenshots" / "chat-answered.png"
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


@pytest.fixture
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def wait(driver, predicate, timeout_s: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(lambda d: predicate(d))


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
