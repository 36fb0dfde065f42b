"""A small driver for headless Chromium (Debian's `chromium` + `chromium-driver`) via Selenium.

Selenium is given the system chromedriver and browser, so Selenium Manager never runs and
nothing is downloaded. The flags keep Chromium quiet and offline apart from the page under test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

# The real binary rather than Debian's /usr/bin/chromium wrapper script, which adds its own flags.
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/lib/chromium/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)
PAGE_LOAD_TIMEOUT_SECONDS = 30


# Set on the window before a click; a new document has a new window without it. (Waiting for
# the old <html> element to go stale raced with Chromium's DevTools and sometimes failed with
# "Node with given id does not belong to the document" instead of reporting staleness.)
_MARKER = "__fediverseBeforeClick"


def _next_page_loaded(driver: webdriver.Chrome) -> bool:
    try:
        return bool(
            driver.execute_script(f"return !window.{_MARKER} && document.readyState === 'complete'")
        )
    except WebDriverException:
        return False  # mid-navigation: no document to run the script in yet


class Browser:
    """One browser window pointed at one server; paths are relative to `base_url`."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        """The current URL's path (and query), to check where a redirect landed."""
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def title(self) -> str:
        return self.driver.title

    def text(self, css: str = "body") -> str:
        """The visible text of the first element matching `css` (fails showing the page)."""
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        if not found:
            page = self.driver.find_element(By.CSS_SELECTOR, "body").text
            raise AssertionError(f"nothing matches {css!r} on {self.path}:\n{page}")
        return found[0].text

    def texts(self, css: str) -> list[str]:
        return [element.text for element in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def exists(self, css: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def _scope(self, within: str | None) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, within or "body")

    def fill(self, name: str, value: str | bool, *, within: str | None = None) -> None:
        """Set a form field by its name: text (replaced), select (by value) or checkbox."""
        field = self._scope(within).find_element(By.CSS_SELECTOR, f'[name="{name}"]')
        kind = (field.get_attribute("type") or "").lower()
        if field.tag_name == "select":
            Select(field).select_by_value(str(value))
        elif kind in ("checkbox", "radio"):
            if kind == "radio":
                field = self._scope(within).find_element(
                    By.CSS_SELECTOR, f'[name="{name}"][value="{value}"]'
                )
                field.click()
            elif field.is_selected() != bool(value):
                field.click()
        else:
            field.clear()
            field.send_keys(str(value))

    def click(self, label: str, *, within: str | None = None) -> None:
        """Press the button, follow the link or open the <details> whose text is `label`;
        for a button or link, wait until the next page has replaced this one."""
        scope = self._scope(within)
        selector = "button, input[type=submit], a, summary"
        for element in scope.find_elements(By.CSS_SELECTOR, selector):
            shown = element.text or element.get_attribute("value") or ""
            if shown.strip() == label:
                navigates = element.tag_name != "summary"
                if navigates:
                    self.driver.execute_script(f"window.{_MARKER} = true")
                element.click()
                if navigates:
                    WebDriverWait(self.driver, PAGE_LOAD_TIMEOUT_SECONDS).until(_next_page_loaded)
                return
        raise AssertionError(f"nothing labelled {label!r} to click in {within or 'the page'}")

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


@contextmanager
def headless_chromium(base_url: str) -> Iterator[Browser]:
    """A fresh Chromium (own profile directory, removed afterwards) for one test."""
    profile = tempfile.mkdtemp(prefix="fediverse-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    try:
        yield Browser(driver, base_url)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
